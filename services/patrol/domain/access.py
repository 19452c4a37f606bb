"""Who may file for which township: roles, the townships a principal serves, configured adjoining townships."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from services.common.principal import Principal
from services.common.roles import EVERY_TOWNSHIP, FILING_ROLES, RECEIVING_ROLES, Role

__all__ = ["EVERY_TOWNSHIP", "NO_ADJOINING", "Principal", "filing_refusal", "may_read", "parse_adjoining"]
NO_ADJOINING: Mapping[str, frozenset[str]] = MappingProxyType({})


def filing_refusal(principal: Principal, township_code: str,
                   adjoining: Mapping[str, frozenset[str]] = NO_ADJOINING) -> str | None:
    """Why ``principal`` may not file for ``township_code``, or None when it may."""
    if principal.role in RECEIVING_ROLES:
        return f"role {principal.role} receives referrals and cannot file findings as a township"
    if principal.role not in FILING_ROLES:
        return f"role {principal.role or '(none)'} may not file findings"
    if principal.serves(township_code):
        return None
    if principal.role == Role.PATROL_OFFICER and any(
            township_code in adjoining.get(own, frozenset()) for own in principal.township_codes):
        return None
    return f"{principal.subject} may not file for township {township_code}"


def may_read(principal: Principal, township_code: str, reporter: str,
             adjoining: Mapping[str, frozenset[str]] = NO_ADJOINING) -> bool:
    """Status of a finding is visible to its reporter and to whoever may file for its township."""
    return principal.subject == reporter or filing_refusal(principal, township_code, adjoining) is None


def parse_adjoining(raw: str) -> dict[str, frozenset[str]]:
    """``own:adj1,adj2;own2:adj3`` → own → adjoining townships (9-digit codes)."""
    result: dict[str, frozenset[str]] = {}
    for entry in filter(None, (part.strip() for part in raw.split(";"))):
        own, _, others = entry.partition(":")
        codes = [c.strip() for c in others.split(",") if c.strip()]
        if not (own.strip().isdigit() and len(own.strip()) == 9) or not codes or not all(
                c.isdigit() and len(c) == 9 for c in codes):
            raise ValueError("LIANDONG_ADJOINING_TOWNSHIPS entries look like 210603008:210603009,210603010")
        result[own.strip()] = result.get(own.strip(), frozenset()) | frozenset(codes)
    return result
