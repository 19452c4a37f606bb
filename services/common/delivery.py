"""Which receiving bodies are sent their referrals over Kafka, on a pair of topics of their own.

Every body reads and answers its work through info-share's lifecycle API — the workbench in a browser, or
``/v1/referrals`` and ``/v1/actions`` for a system — which authenticates each caller and serves it only its own
referrals from the register's indexes, whatever the number of bodies. A body's own topics
(``referrals.<body>``, ``responses.<body>``, docs/dispatch.md) are the integration for a body whose own system
consumes Kafka. They cost the cluster two topics per body and cost every client that touches all of them (dispatch's
producer, the relay's pattern subscription) a metadata request over all of them, which at the national number of
bodies is seconds long (docs/benchmarks.md, "Referral delivery"). So Kafka delivery is switched on per county
(``LIANDONG_KAFKA_DELIVERY_COUNTIES``): ``*`` for every county (one prefecture's deployment, the default), a comma-
separated list of county codes, or empty for none. A body outside it is not sent its referrals on Kafka; dispatch
still publishes every referral on ``case-events``, so the register, the feed and the lifecycle API have it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.topics import RESPONSES_FAMILY, responses_topic_pattern

EVERY_COUNTY = "*"
_COUNTY_CODE = re.compile(r"^\d{6}$")


class UnknownBodyId(ValueError):
    """A body id not of the form ``kind:code[:more]`` with a county (6-digit) or township (9-digit) code."""


def county_of_body(body_id: str) -> str:
    """The county a body belongs to, read from its id (``team:210602:market``, ``township:210602001``,
    ``agency:210682201:police``, ``coordination:210602``): the first six digits of its code."""
    parts = body_id.split(":")
    code = parts[1] if len(parts) > 1 else ""
    if len(code) not in (6, 9) or not code.isdigit():
        raise UnknownBodyId(f"{body_id!r} is not a body id (kind:code with a 6- or 9-digit code)")
    return code[:6]


@dataclass(frozen=True)
class KafkaDelivery:
    counties: frozenset[str] | None  # None: every county

    @classmethod
    def parse(cls, text: str) -> KafkaDelivery:
        """``*``, ``""`` or county codes separated by commas; ValueError naming a code that is not six digits."""
        text = text.strip()
        if text == EVERY_COUNTY:
            return cls(None)
        codes = frozenset(code.strip() for code in text.split(",") if code.strip())
        wrong = sorted(code for code in codes if not _COUNTY_CODE.match(code))
        if wrong:
            raise ValueError(f"LIANDONG_KAFKA_DELIVERY_COUNTIES: {', '.join(wrong)} is not a six-digit county code "
                             "(use * for every county, or leave it empty for none)")
        return cls(codes)

    @property
    def everywhere(self) -> bool:
        return self.counties is None

    def covers(self, body_id: str) -> bool:
        """The body is sent its referrals on its own Kafka topic."""
        if self.counties is None:
            return True
        try:
            return county_of_body(body_id) in self.counties
        except UnknownBodyId:
            return False

    def bodies(self, body_ids: Iterable[str]) -> list[str]:
        return [body_id for body_id in body_ids if self.covers(body_id)]

    def responses_pattern(self, prefix: str) -> str:
        """Regular expression matching the responses topic of every body this covers, and nothing else."""
        if self.counties is None:
            return responses_topic_pattern(prefix)
        family = re.escape(f"{RESPONSES_FAMILY.name(prefix)}.")
        if not self.counties:
            return r"^(?!)$"  # matches nothing
        counties = "|".join(sorted(self.counties))
        # kind.code[.more], the code starting with one of the counties (a county's 6 digits or a township's 9)
        return "^" + family + r"[a-z_]+\.(?:" + counties + r")(?:\d{3})?(\.[^.]+)*$"
