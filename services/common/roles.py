"""The roles a token or API key may carry, one vocabulary for every service (patrol files, info-share reads and acts).

A role names the kind of body a principal speaks for; which townships or body it serves comes with it in the
credential. Unknown roles get nothing anywhere (patrol: may not file; info-share: the public).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PATROL_OFFICER = "patrol_officer"  # township enforcement office, on patrol
    TOWNSHIP_OFFICER = "township_officer"  # township enforcement office, at the desk
    HOTLINE_OPERATOR = "hotline_operator"  # 12345 line
    SYSTEM = "system"  # camera platforms, command platform (API keys)
    COUNTY_TEAM = "county_team"
    DISPATCHED_AGENCY = "dispatched_agency"
    COUNTY_COORDINATION = "county_coordination"  # county judicial bureau: disputes, overdue referrals
    SUPERVISOR = "supervisor"  # city-level oversight
    PUBLIC = "public"


# The township scope of a system's API key that serves every township; never of a person's token.
EVERY_TOWNSHIP = "*"

# Who may file findings for a township.
FILING_ROLES = frozenset({Role.PATROL_OFFICER, Role.HOTLINE_OPERATOR, Role.SYSTEM})
# Who speaks for a township office (body ``township:<code>``, from the credential's townships).
TOWNSHIP_ROLES = frozenset({Role.PATROL_OFFICER, Role.TOWNSHIP_OFFICER})
# Receiving bodies: they accept, return and handle referrals; a finding must come from the township side.
RECEIVING_ROLES = frozenset({Role.COUNTY_TEAM, Role.DISPATCHED_AGENCY, Role.COUNTY_COORDINATION})
# Enforcement bodies: they see cases they are not party to, with personal data masked.
OFFICIAL_ROLES = TOWNSHIP_ROLES | RECEIVING_ROLES | {Role.SUPERVISOR}
