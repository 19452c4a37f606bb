"""Who sees what: the caller, the parties of a case, and the audience a caller belongs to for that case."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from services.common.privacy import Audience
from services.common.roles import OFFICIAL_ROLES, TOWNSHIP_ROLES, Role

__all__ = ["ANONYMOUS", "Audience", "Caller", "PartyRole", "audience_for", "sees_figures_of_all"]


class PartyRole(StrEnum):
    REPORTING_TOWNSHIP = "reporting_township"  # the township office whose area the finding is in (合并的也算)
    LEAD = "lead"  # named lead when the case was opened (the current one is cases.lead_body_id)
    CO_HANDLER = "co_handler"
    REFERRED = "referred"  # received a referral (even if it returned it: it holds the referral already)
    COORDINATION = "coordination"  # told of an overdue referral; decides jurisdiction


# Audiences (services.common.privacy): FULL for a party to the case (its reporting township, lead, co-handlers, bodies
# it was referred to), OFFICIAL for any other enforcement body, PUBLIC for everyone else. Roles outside
# OFFICIAL_ROLES, or none, are the public (fail closed).


@dataclass(frozen=True)
class Caller:
    """An authenticated principal as the info-share API sees it (or the anonymous public)."""

    subject: str | None = None
    role: str = "public"
    body_id: str | None = None
    township_codes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_official(self) -> bool:
        return self.role in OFFICIAL_ROLES

    @property
    def body_ids(self) -> frozenset[str]:
        """The bodies the caller acts for: its own, plus the township offices a township officer works in."""
        if not self.is_official:
            return frozenset()
        ids = {self.body_id} if self.body_id else set()
        if self.role in TOWNSHIP_ROLES:
            ids |= {f"township:{code}" for code in self.township_codes}
        return frozenset(ids)

    @property
    def county_scope(self) -> str | None:
        """County coordination (county judicial bureau) looks after every case of its county."""
        if self.role == Role.COUNTY_COORDINATION and self.body_id and self.body_id.startswith("coordination:"):
            return self.body_id.split(":", 1)[1]
        return None


ANONYMOUS = Caller()


def audience_for(caller: Caller, parties: Iterable[str]) -> Audience:
    """FULL for a party of the case, OFFICIAL for any other enforcement body, PUBLIC for everyone else."""
    if not caller.is_official:
        return Audience.PUBLIC
    if caller.body_ids & set(parties):
        return Audience.FULL
    return Audience.OFFICIAL


def sees_figures_of_all(caller: Caller) -> bool:
    return caller.role == Role.SUPERVISOR
