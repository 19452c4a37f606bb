"""Who is calling: one principal for every service, established by authentication, never by what a message says.

Built once per request from a verified token (``jwt_auth.identity_of``) or a configured API key; patrol decides with
it who may file for which township, info-share which audience a caller is for a case and for which bodies it acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.lifecycle import COORDINATION_PREFIX
from services.common.roles import EVERY_TOWNSHIP, OFFICIAL_ROLES, TOWNSHIP_ROLES, Role
from services.reference.loader import township_office_id


@dataclass(frozen=True)
class Principal:
    subject: str = ""  # officer id, system name; "" for the anonymous public
    role: str = "public"  # services.common.roles; a role outside OFFICIAL_ROLES reads as the public (fail closed)
    township_codes: frozenset[str] = field(default_factory=frozenset)  # "*" = every township (API keys only)
    method: str = "jwt"  # how it was established: "jwt", "api_key" or "anonymous"; recorded in the audit log
    body_id: str | None = None  # the receiving body it speaks for, e.g. team:210603:natural_resources

    @property
    def is_anonymous(self) -> bool:
        return not self.subject

    def serves(self, township_code: str) -> bool:
        """Works for that township's office (or for every township: a system's API key)."""
        return EVERY_TOWNSHIP in self.township_codes or township_code in self.township_codes

    @property
    def is_official(self) -> bool:
        return self.role in OFFICIAL_ROLES

    @property
    def body_ids(self) -> frozenset[str]:
        """The bodies it acts for: its own, plus the township offices a township officer works in."""
        if not self.is_official:
            return frozenset()
        ids = {self.body_id} if self.body_id else set()
        if self.role in TOWNSHIP_ROLES:
            ids |= {township_office_id(code) for code in self.township_codes}
        return frozenset(ids)

    @property
    def county_scope(self) -> str | None:
        """County coordination (county judicial bureau) looks after every case of its county."""
        if self.role == Role.COUNTY_COORDINATION and self.body_id and self.body_id.startswith(COORDINATION_PREFIX):
            return self.body_id.removeprefix(COORDINATION_PREFIX)
        return None


ANONYMOUS = Principal(method="anonymous")
