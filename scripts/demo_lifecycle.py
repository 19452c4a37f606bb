"""`make run`'s second half of the day: the parties act on their referrals through the lifecycle API, as people would.

Each party acts with a token of its own (a county team, a dispatched agency, a township office, county coordination),
so what the demo shows is what the API allows them: signed and closed, sent back for rework, an extension, returned
and re-routed until county coordination decides the dispute, and one action dispatch refuses (stated before the
referral existed).
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from deploy.local_stack import Stack
from services.common.polling import poll_until
from services.info_share.auth import issue_token
from services.info_share.settings import InfoShareApiSettings

ROLES = {"team": "county_team", "agency": "dispatched_agency", "coordination": "county_coordination",
         "township": "township_officer"}


def token_for(stack: Stack, body_id: str) -> str:
    settings = InfoShareApiSettings(jwt_secret=stack.jwt_secret)  # type: ignore[arg-type,call-arg]
    kind, _, rest = body_id.partition(":")
    if kind == "township":
        return issue_token(settings, f"demo-officer-{rest}", role=ROLES[kind], township_codes=[rest])
    return issue_token(settings, f"demo-{body_id}", role=ROLES[kind], body_id=body_id)


@dataclass
class Lifecycle:
    stack: Stack
    done: Counter[str] = field(default_factory=Counter)
    examples: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> (body id, a referral id)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.stack.info_share_port}"

    def client(self, body_id: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30,
                            headers={"Authorization": f"Bearer {token_for(self.stack, body_id)}"})

    def act(self, body_id: str, referral_id: str, segment: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.client(body_id) as client:
            answer = client.post(f"/v1/referrals/{referral_id}/{segment}", json=body or {},
                                 headers={"Idempotency-Key": f"demo-{uuid.uuid4().hex}"})
        if answer.status_code >= 500:
            raise RuntimeError(f"{segment} {referral_id} as {body_id}: {answer.status_code} {answer.text}")
        return {"status_code": answer.status_code, **answer.json()}

    def cards(self, body_id: str) -> list[dict[str, Any]]:
        with self.client(body_id) as client:
            return list(client.get("/v1/referrals", params={"needs_action": True}).json()["referrals"])

    def to_sign(self, body_id: str) -> list[dict[str, Any]]:
        return [c for c in self.cards(body_id) if c["body_id"] == body_id and c["state"] == "issued"]

    def close(self, referral: dict[str, Any], rework: bool = False) -> None:
        body, township, rid = referral["body_id"], f"township:{referral['township_code']}", referral["referral_id"]
        self.act(body, rid, "accept")
        self.act(body, rid, "start")
        self.act(body, rid, "feedback", {"outcome": "rectified", "note": "已责令当事人整改完毕"})
        if rework:
            self.act(township, rid, "rework", {"reason": "整改照片缺失，请补充后重新反馈"})
            self.act(body, rid, "feedback", {"outcome": "rectified", "note": "已补充整改照片"})
            self.done["sent back for rework"] += 1
        self.act(township, rid, "verify")
        closed = self.act(township, rid, "close", {"note": "核查属实，予以结案"})
        if closed.get("status") == "applied":
            self.done["closed"] += 1

    def return_until_decided(self, referral: dict[str, Any]) -> None:
        reasons = iter(["not_our_duty", "overlapping_duties", "unclear_ownership", "wrong_place", "not_our_duty"])
        case_id = referral["case_id"]
        while not referral["body_id"].startswith("coordination:"):
            self.act(referral["body_id"], referral["referral_id"], "return", {"reason_code": next(reasons)})
            self.done["returned and re-routed"] += 1
            attempt = referral["attempt"] + 1
            rerouted = poll_until(functools.partial(self._referral, case_id, attempt), 30, 0.3,
                                  "the re-routed referral")
            assert rerouted is not None  # poll_until returns only a found card
            referral = rerouted
        self.examples.setdefault("coordination", (referral["body_id"], referral["referral_id"]))
        county = referral["body_id"].split(":", 1)[1]
        decided = self.act(referral["body_id"], referral["referral_id"], "decision",
                           {"body_id": f"team:{county}:natural_resources", "reason": "经协调，由自然资源部门管辖"})
        if decided.get("status") == "applied":
            self.done["disputes decided by coordination"] += 1

    def _referral(self, case_id: str, attempt: int) -> dict[str, Any] | None:
        for body_id in self._bodies_of(case_id):
            for card in self.cards(body_id):
                if card["case_id"] == case_id and card["attempt"] == attempt:
                    return card
        return None

    def _bodies_of(self, case_id: str) -> list[str]:
        supervisor = InfoShareApiSettings(jwt_secret=self.stack.jwt_secret)  # type: ignore[arg-type,call-arg]
        token = issue_token(supervisor, "demo-supervisor", role="supervisor")
        detail = httpx.get(f"{self.base}/v1/cases/{case_id}", headers={"Authorization": f"Bearer {token}"},
                           timeout=30).json()
        return [r["body_id"] for r in sorted(detail.get("referrals", []), key=lambda r: -r["attempt"])]


def drive(stack: Stack, referrals_by_body: dict[str, int]) -> Lifecycle:
    """Act on a few referrals of the busiest bodies of each kind; returns what was done."""
    life = Lifecycle(stack)
    ranked = sorted(referrals_by_body.items(), key=lambda kv: -kv[1])
    team = next((b for b, _ in ranked if b.startswith("team:")), None)
    agency = next((b for b, _ in ranked if b.startswith("agency:")), None)
    township = next((b for b, _ in ranked if b.startswith("township:")), None)
    if team:
        cards = life.to_sign(team)
        life.examples["team"] = (team, cards[-1]["referral_id"] if cards else "")
        if len(cards) >= 1:
            life.close(cards[0])
        if len(cards) >= 2:
            life.close(cards[1], rework=True)
        ordinary = [c for c in cards[2:3] + cards[4:] if not _major(c)]  # a major matter's 24 h cannot be extended
        if ordinary and life.act(team, ordinary[0]["referral_id"], "extension",
                                 {"reason": "需现场核实权属"}).get("status") == "applied":
            life.done["extended (3 → 5 working days)"] += 1
        if len(cards) >= 4:
            backdated = (cards[3]["issued_at"][:10] + "T00:00:00+08:00")
            refused = life.act(team, cards[3]["referral_id"], "accept", {"stated_at": _before(backdated)})
            if refused.get("status") == "refused":
                life.done["refused by dispatch (stated before the referral existed)"] += 1
    if township:
        cards = life.to_sign(township)
        if cards:
            life.examples["township"] = (township, cards[-1]["referral_id"])
            life.close(cards[0])
    if agency:
        cards = life.to_sign(agency)
        if cards:
            life.examples["agency"] = (agency, cards[-1]["referral_id"])
            life.return_until_decided(cards[0])
    return life


def _major(card: dict[str, Any]) -> bool:
    issued, accept_by = datetime.fromisoformat(card["issued_at"]), datetime.fromisoformat(card["accept_by"])
    return accept_by - issued < timedelta(days=1)


def _before(iso: str) -> str:
    return (datetime.fromisoformat(iso) - timedelta(days=1)).isoformat()


def summary_line(life: Lifecycle) -> str:
    return "acted:    " + ", ".join(f"{n} {what}" for what, n in life.done.items()) if life.done else \
        "acted:    nothing (no referral to act on)"


def credentials(life: Lifecycle) -> str:
    """A credential and one working request for each kind of party."""
    lines = ["", "lifecycle API (each party acts as its token says; docs/lifecycle.md):"]
    labels = {"team": "county team", "agency": "dispatched agency", "township": "township office",
              "coordination": "county coordination"}
    for kind, (body_id, referral_id) in life.examples.items():
        variable = f"{kind.upper()}_TOKEN"
        lines.append(f"  {labels[kind]} {body_id}:")
        lines.append(f"    export {variable}={token_for(life.stack, body_id)}")
        path = "/v1/coordination/disputes" if kind == "coordination" else "/v1/referrals?needs_action=true"
        lines.append(f"    curl -H \"Authorization: Bearer ${variable}\" '{life.base}{path}'")
        if kind in ("team", "township") and referral_id:
            lines.append(f"    curl -X POST -H \"Authorization: Bearer ${variable}\" -H 'Idempotency-Key: demo-1' "
                         f"{life.base}/v1/referrals/{referral_id}/accept")
    return "\n".join(lines)


def workbench_text(life: Lifecycle) -> str:
    """The workbench's URL and a demo sign-in link for each kind of party (team, agency, township, coordination)."""
    labels = {"team": "county team", "agency": "dispatched agency", "township": "township office",
              "coordination": "county coordination"}
    bodies = {kind: body_id for kind, (body_id, _referral) in life.examples.items()}
    if "coordination" not in bodies and "team" in bodies:  # the coordination of the team's county
        bodies["coordination"] = f"coordination:{bodies['team'].split(':')[1]}"
    lines = ["", "workbench (browser; demo sign-in, one link per kind of party; docs/workbench.md):",
             f"  {life.stack.workbench_url}/"]
    for kind in ("team", "agency", "township", "coordination"):
        if kind in bodies:
            lines.append(f"  {labels[kind]:<20} {life.stack.workbench_url}/demo/sign-in?as={bodies[kind]}")
    lines.append(f"  {'OIDC code flow':<20} {life.stack.workbench_url}/oidc/start  (demo IdP asks which body)")
    return "\n".join(lines)
