"""What goes wrong on a real day, played into `make run`'s sample day so that the error panels and alerts have data.

- A legacy producer writes a finding straight to the findings topic, bypassing patrol: no CloudEvents headers, not
  JSON. Dispatch cannot read it and sets it aside on the dead-letter topic (``liandong_dead_letters_total``).
- Apps get refused: one whose officer's token expired overnight (401), one filing for a neighbouring township the
  officer does not serve (403), one that lost its location (422) — the refusals panels and the audit log see them.
- The broker stalls for a few seconds (as in a long GC pause or a full disk): patrol does not get its
  acknowledgement in time and answers ``503`` with ``Retry-After`` — a real 5xx, counted in
  ``liandong_patrol_publish_failures_total`` and the 5xx series — and the caller's retry is then accepted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator

import httpx
from kafka import KafkaProducer

from deploy.local_stack import Stack
from scripts.sample_day import PlannedSubmission
from services.common.topics import FINDINGS
from services.patrol.adapters.auth import issue_token
from services.patrol.settings import PatrolSettings
from services.reference.loader import load_reference_data

STALL_NOTE = "for the publish timeout (5 s by default)"
LEGACY_RECORD = b'{"township":"210603001","what":"legacy export, not a CloudEvent"'


def legacy_record_on_findings(stack: Stack) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    try:
        producer.send(FINDINGS.name(stack.topic_prefix), key=b"legacy-export", value=LEGACY_RECORD).get(30)
    finally:
        producer.close()


@contextlib.contextmanager
def broker_frozen(stack: Stack) -> Iterator[None]:
    """SIGSTOP the local broker for the block, SIGCONT after, whatever happens in it."""
    pid = stack.broker.running_pid() if stack.broker is not None else None
    if pid is None:
        raise RuntimeError("the broker is not one this stack started; it cannot be frozen")
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def submit_through_a_broker_stall(stack: Stack, body: dict, token: str) -> tuple[list[int], dict]:
    """Send one finding while the broker is frozen (503 expected), then retry as told until it is accepted.

    Returns every status seen, in order, and the last answer's body.
    """
    url = f"http://127.0.0.1:{stack.patrol_port}/v1/findings"
    headers = {"Authorization": f"Bearer {token}"}
    statuses: list[int] = []
    with httpx.Client(timeout=60) as client:
        with broker_frozen(stack):
            answer = client.post(url, json=body, headers=headers)
            statuses.append(answer.status_code)
        for _attempt in range(20):
            if answer.status_code != 503:
                break
            time.sleep(float(answer.headers.get("Retry-After", "1")))
            answer = client.post(url, json=body, headers=headers)
            statuses.append(answer.status_code)
    return statuses, answer.json()


def held_back_for_the_stall(plan: list[PlannedSubmission]) -> PlannedSubmission:
    """A submission sent once in the plan (no re-send of it), by an officer: it goes last, through the stall."""
    keys = Counter(item.body["client_report_id"] for item in plan)
    return next(item for item in reversed(plan) if not item.resend and keys[item.body["client_report_id"]] == 1
                and item.principal.startswith("officer:"))


def refused_submissions(stack: Stack, item: PlannedSubmission) -> list[int]:
    """Three submissions patrol must refuse, made from one planned officer's submission; returns their statuses."""
    township = item.body["township_code"]
    settings = PatrolSettings(jwt_secret=stack.jwt_secret)  # type: ignore[arg-type]
    yesterday = time.time() - 24 * 3600
    expired = issue_token(settings, f"officer-{township}", [township], now=yesterday)
    own = issue_token(settings, f"officer-{township}", [township])
    neighbour = next(code for code in sorted(load_reference_data().townships) if code != township)
    url = f"http://127.0.0.1:{stack.patrol_port}/v1/findings"
    refused = [
        (expired, {**item.body, "client_report_id": "refused-expired"}),
        (own, {**item.body, "client_report_id": "refused-neighbour", "township_code": neighbour}),
        (own, {k: v for k, v in item.body.items() if k != "location"} | {"client_report_id": "refused-no-place"}),
    ]
    with httpx.Client(timeout=30) as client:
        return [client.post(url, json=body, headers={"Authorization": f"Bearer {token}"}).status_code
                for token, body in refused]


def play_incidents(stack: Stack, held_back: PlannedSubmission, token: str) -> tuple[int, dict]:
    """The incidents of the sample day; returns the held-back submission's final (status, answer)."""
    legacy_record_on_findings(stack)
    refusals = refused_submissions(stack, held_back)
    statuses, answer = submit_through_a_broker_stall(stack, held_back.body, token)
    print(f"incidents: 1 unreadable record from a legacy producer on the findings topic (dispatch dead-letters it); "
          f"{len(refusals)} submissions refused ({', '.join(map(str, refusals))}: expired token, township not "
          f"served, no location); broker frozen {STALL_NOTE}: patrol answered {' then '.join(map(str, statuses))}",
          flush=True)
    return statuses[-1], answer
