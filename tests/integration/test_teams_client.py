"""Receiving bodies work their referrals with the client library and CLI, against a real broker, dispatch and the
relay: every action goes to the body's own responses topic and is acted on as that body."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from schemas.events import (
    CaseTransitioned,
    ReferralIssued,
    ReferralOutcome,
    ResponseRejected,
    ReturnReason,
)
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.dispatch.domain.routing import route
from services.teams.client import ReferralClient
from tests.dispatch_fixtures import (
    COUNTY,
    REFERENCE,
    TOWNSHIP,
    case_events_of,
    publish_finding,
    referred_category,
)
from tests.stack_fixtures import StackFactory

pytestmark = pytest.mark.integration


def watched_referral(client: ReferralClient) -> ReferralIssued:
    """The first referral the client watches on its body's topic, once dispatch has issued it."""
    def poll() -> ReferralIssued | None:
        try:
            return next((m for m in client.watch(idle_timeout_ms=2000) if isinstance(m, ReferralIssued)), None)
        except Exception:  # the body's topic is created by dispatch on first use
            return None
    return poll_until(poll, 90, 0.5, f"a referral on {client.topic}")


def test_accept_wrong_body_and_return_through_the_client(make_stack: StackFactory) -> None:
    stack = make_stack()
    stack.start_broker()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stack.start_dispatch()
    stack.start_relay()
    category = referred_category(datetime.now(UTC))
    lead = route(REFERENCE, TOWNSHIP, category, datetime.now(UTC)).lead_body_id
    publish_finding(stack, "finding-a", category, seed=1)

    team = ReferralClient(stack.bootstrap_servers, lead, stack.topic_prefix)
    referral = watched_referral(team)
    assert referral.body_id == lead and referral.finding.finding_id == "finding-a"

    intruder = ReferralClient(stack.bootstrap_servers, f"team:{COUNTY}:health" if not lead.endswith("health")
                              else f"team:{COUNTY}:water", stack.topic_prefix)
    intruder.accept(referral)
    team.accept(referral)
    team.accept(referral)  # the same command again: same response id, answered once

    def transitions() -> list:
        events = case_events_of(stack, referral.case_id)
        done = [e for e in events if isinstance(e, CaseTransitioned | ResponseRejected)]
        return events if len(done) >= 2 else []

    events = poll_until(transitions, 60, 0.5, "the intruder rejected and the acceptance recorded")
    rejected = [e for e in events if isinstance(e, ResponseRejected)]
    accepted = {e.event_id for e in events if isinstance(e, CaseTransitioned)}
    assert len(rejected) == 1 and intruder.body_id in rejected[0].reason and rejected[0].code == "forbidden"
    assert rejected[0].body_id == intruder.body_id
    assert len(accepted) == 1

    # A second case, returned with a structured reason: no other body is competent for this category, so it goes
    # to county coordination (on its own topic), which decides the dispute from the CLI by naming the competent
    # body (指定管辖); the named body accepts from the CLI.
    publish_finding(stack, "finding-b", category, seed=2)
    second = poll_until(lambda: next((m for m in team.watch(idle_timeout_ms=2000) if isinstance(m, ReferralIssued)
                                      and m.finding.finding_id == "finding-b"), None), 60, 0.5, "second referral")
    team.return_referral(second, reason_code=ReturnReason.NOT_OUR_DUTY)
    rerouted = poll_until(lambda: [e for e in case_events_of(stack, second.case_id)
                                   if isinstance(e, ReferralIssued) and e.attempt == 2], 60, 0.5, "re-routed")
    assert rerouted[0].body_id == f"coordination:{COUNTY}"
    returned = next(e for e in case_events_of(stack, second.case_id)
                    if isinstance(e, CaseTransitioned) and e.action.value == "return")
    assert returned.reason_code is ReturnReason.NOT_OUR_DUTY and returned.channel is not None
    assert returned.channel.value == "kafka" and returned.actor_body_id == lead
    other = ReferralClient(stack.bootstrap_servers, rerouted[0].body_id, stack.topic_prefix)
    assert watched_referral(other).referral_id == rerouted[0].referral_id

    cli = run_cli(stack, other.body_id, "decide", rerouted[0].referral_id, "--body", lead, "--reason", "經協調屬住建")
    assert cli.returncode == 0, cli.stderr
    assert "sent decide" in cli.stdout
    designated = poll_until(lambda: [e for e in case_events_of(stack, second.case_id)
                                     if isinstance(e, ReferralIssued) and e.designated], 60, 0.5, "designated")
    assert designated[0].body_id == lead
    cli = run_cli(stack, lead, "accept", designated[0].referral_id)
    assert cli.returncode == 0, cli.stderr
    poll_until(lambda: any(isinstance(e, CaseTransitioned) and e.referral_id == designated[0].referral_id
                           for e in case_events_of(stack, second.case_id)), 60, 0.5, "CLI acceptance recorded")
    for client in (team, intruder, other):
        client.close()


def run_cli(stack, body: str, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "services.teams", "--body", body, *args], env=stack.env,
                          capture_output=True, text=True, timeout=60)


def test_the_whole_lifecycle_from_the_cli_township_verifies_reworks_and_closes(make_stack: StackFactory) -> None:
    stack = make_stack()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stack.start_dispatch()
    stack.start_relay()
    category = referred_category(datetime.now(UTC))
    lead = route(REFERENCE, TOWNSHIP, category, datetime.now(UTC)).lead_body_id
    publish_finding(stack, "finding-c", category, seed=3)
    referral = watched_referral(ReferralClient(stack.bootstrap_servers, lead, stack.topic_prefix))
    township = f"township:{TOWNSHIP}"
    # The referral id is enough: dispatch copied the referral to the township's own topic.
    copy = watched_referral(ReferralClient(stack.bootstrap_servers, township, stack.topic_prefix))
    assert (copy.referral_id, copy.body_id) == (referral.referral_id, lead)

    def actions() -> list[str]:
        # A retried action is re-emitted under the same event id (consumers drop it): count each event once.
        seen = {e.event_id: e.action.value for e in case_events_of(stack, referral.case_id)
                if isinstance(e, CaseTransitioned)}
        return list(seen.values())

    def until(count: int) -> list[str]:
        return poll_until(lambda: actions() if len(actions()) >= count else None, 60, 0.5, f"{count} transitions")

    steps: list[tuple[str, list[str]]] = [
        (lead, ["accept", referral.referral_id]),
        (lead, ["accept", referral.referral_id]),  # run twice: the same action, answered once
        (lead, ["start-handling", referral.referral_id]),
        (lead, ["feed-back", referral.referral_id, "--outcome", "rectified", "--note", "已整改",
                "--evidence", "https://evidence.example/1.jpg"]),
        (township, ["rework", referral.referral_id, "--reason", "整改不到位"]),
        (lead, ["feed-back", referral.referral_id, "--outcome", "penalty_decided", "--note", "已立案處罰"]),
        (township, ["verify", referral.referral_id]),
        (township, ["close", referral.referral_id, "--note", "核查屬實，結案"]),
    ]
    watched = run_cli(stack, township, "watch", "--idle-timeout-seconds", "3")
    assert f"COPY (sent to {lead}) {referral.referral_id}" in watched.stdout, watched.stdout
    for body, args in steps:
        done = run_cli(stack, body, *args)
        assert done.returncode == 0, done.stderr
    assert until(7) == ["accept", "start_handling", "feed_back", "rework", "feed_back", "verify", "close"]
    events = case_events_of(stack, referral.case_id)
    feedbacks = [e for e in events if isinstance(e, CaseTransitioned) and e.action.value == "feed_back"]
    assert feedbacks[0].evidence == ("https://evidence.example/1.jpg",)
    assert feedbacks[1].outcome is ReferralOutcome.PENALTY_DECIDED
    closed = next(e for e in events if isinstance(e, CaseTransitioned) and e.action.value == "close")
    assert closed.actor_body_id == township and closed.reason == "核查屬實，結案"
    assert not [e for e in events if isinstance(e, ResponseRejected)]

    # The handling body cannot close its own case: the township does (核查結案).
    done = run_cli(stack, lead, "close", referral.referral_id, "--key", "self-close")
    assert done.returncode == 0, done.stderr
    rejected = poll_until(lambda: [e for e in case_events_of(stack, referral.case_id)
                                   if isinstance(e, ResponseRejected)], 60, 0.5, "self-close refused")
    assert rejected[0].code == "forbidden" and rejected[0].body_id == lead


def test_cli_refuses_bad_input_before_sending(make_stack: StackFactory) -> None:
    stack = make_stack()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    body = f"team:{COUNTY}:water"
    assert run_cli(stack, body, "return", "ref-x").returncode == 2  # no --reason-code
    missing = run_cli(stack, f"township:{TOWNSHIP}", "verify", "no-such-referral")
    assert missing.returncode == 2 and "--case-id and --dedup-group" in missing.stderr
    bad_link = run_cli(stack, f"township:{TOWNSHIP}", "rework", "ref-x", "--reason", "x", "--due-by",
                       "2026-12-10T17:00:00", "--case-id", "c", "--dedup-group", "g")
    assert bad_link.returncode == 2 and "offset" in bad_link.stderr
