"""Who sees what: the caller, the parties of a case, and the audience a caller belongs to for that case."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from services.common.principal import ANONYMOUS, Principal  # re-exported: who is asking, for the audience rules
from services.common.privacy import Audience
from services.common.roles import Role

__all__ = ["ANONYMOUS", "Audience", "PartyRole", "Principal", "audience_for", "sees_figures_of_all"]


class PartyRole(StrEnum):
    REPORTING_TOWNSHIP = "reporting_township"  # the township office whose area the finding is in (合并的也算)
    LEAD = "lead"  # named lead when the case was opened (the current one is cases.lead_body_id)
    CO_HANDLER = "co_handler"
    REFERRED = "referred"  # received a referral (even if it returned it: it holds the referral already)
    COORDINATION = "coordination"  # told of an overdue referral; decides jurisdiction


# Audiences (services.common.privacy): FULL for a party to the case (its reporting township, lead, co-handlers, bodies
# it was referred to), OFFICIAL for any other enforcement body, PUBLIC for everyone else. Roles outside
# OFFICIAL_ROLES, or none, are the public (fail closed).


def audience_for(caller: Principal, parties: Iterable[str]) -> Audience:
    """FULL for a party of the case, OFFICIAL for any other enforcement body, PUBLIC for everyone else."""
    if not caller.is_official:
        return Audience.PUBLIC
    if caller.body_ids & set(parties):
        return Audience.FULL
    return Audience.OFFICIAL


def sees_figures_of_all(caller: Principal) -> bool:
    return caller.role == Role.SUPERVISOR
