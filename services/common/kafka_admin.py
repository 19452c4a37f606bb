"""Create the declared topics (the broker never auto-creates them); idempotent, safe to run on every start.

Topics take their replication from the cluster: no replication factor is sent (``-1``), so the broker's
``default.replication.factor`` applies, and ``min.insync.replicas`` is the broker's too — 1 on the single local
broker, 3 and 2 on the three-node cluster (deploy/kafka/local_kafka.py). A cluster missing a node then refuses to
create a topic rather than making one with fewer replicas.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from services.common.topics import (
    CORE_TOPICS,
    REFERRALS_FAMILY,
    RESPONSES_FAMILY,
    TopicSpec,
    referrals_topic,
    responses_topic,
)


def _admin(bootstrap_servers: str, timeout_seconds: float, security: dict[str, Any]) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="liandong-admin",
                                    request_timeout_ms=15_000, **security)
        except (KafkaConnectionError, KafkaTimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def ensure_topics(bootstrap_servers: str, prefix: str, specs: Iterable[TopicSpec] = CORE_TOPICS,
                  extra: Iterable[tuple[str, TopicSpec]] = (), timeout_seconds: float = 30.0,
                  security: dict[str, Any] | None = None) -> list[str]:
    """Create every topic in ``specs`` (named with ``prefix``) plus ``extra`` (explicit name, spec); return names.

    ``security``: kafka-python connection options (SASL) for a secured cluster.
    """
    wanted = {spec.name(prefix): spec for spec in specs}
    wanted.update(dict(extra))
    admin = _admin(bootstrap_servers, timeout_seconds, security or {})
    try:
        existing = set(admin.list_topics())
        missing = {name: _new_topic(spec)
                   for name, spec in wanted.items() if name not in existing}
        if missing:
            # Another process may create one in between: same declaration, nothing to do.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing, timeout_ms=int(timeout_seconds * 1000), wait_for_metadata=True)
        _check_partitions(admin, wanted)
    finally:
        admin.close()
    return sorted(wanted)


def _new_topic(spec: TopicSpec) -> dict[str, Any]:
    # replication_factor -1: the cluster's default.replication.factor (CreateTopics v4+, Kafka 2.4+).
    return {"num_partitions": spec.partitions, "replication_factor": -1, "configs": spec.configs}


def body_topics(body_ids: Iterable[str], prefix: str) -> list[tuple[str, TopicSpec]]:
    """Each receiving body's two topics: its referrals (read) and its responses (write), for ``ensure_topics(extra=)``.

    Both exist before the body's first referral: a body answers on its responses topic as soon as it is sent work,
    and a body's credentials cannot create topics.
    """
    return [pair for body_id in body_ids for pair in ((referrals_topic(body_id, prefix), REFERRALS_FAMILY),
                                                      (responses_topic(body_id, prefix), RESPONSES_FAMILY))]


def _check_partitions(admin: KafkaAdminClient, wanted: dict[str, TopicSpec]) -> None:
    # A topic made by hand with other partition counts would break co-partitioning (Faust: PartitionsMismatch).
    for description in admin.describe_topics(list(wanted)):
        name = description["name"]
        found = len(description["partitions"])
        if description.get("error_code"):
            raise KafkaError(f"topic {name}: error {description['error_code']}")
        if found != wanted[name].partitions:
            raise RuntimeError(f"topic {name} has {found} partitions, declared {wanted[name].partitions}")


class TopicCreator:
    """Creates topics on demand over one long-lived admin connection (a new connection costs far more than a call).

    Not thread-safe: give it a single worker thread (see services.dispatch.entrypoints.worker).
    """

    def __init__(self, bootstrap_servers: str, security: dict[str, Any] | None = None,
                 timeout_seconds: float = 30.0) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._security = security or {}
        self._timeout_seconds = timeout_seconds
        self._admin: KafkaAdminClient | None = None
        self._known: set[str] = set()

    def ensure(self, name: str, spec: TopicSpec) -> None:
        if name in self._known:
            return
        if self._admin is None:
            self._admin = _admin(self._bootstrap_servers, self._timeout_seconds, self._security)
            self._known.update(self._admin.list_topics())
        if name not in self._known:
            with contextlib.suppress(TopicAlreadyExistsError):
                self._admin.create_topics(
                    {name: _new_topic(spec)},
                    timeout_ms=int(self._timeout_seconds * 1000), wait_for_metadata=True)
            _check_partitions(self._admin, {name: spec})
            self._known.add(name)

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


def delete_topics_with_prefixes(bootstrap_servers: str, prefixes: Iterable[str],
                                security: dict[str, Any] | None = None) -> int:
    """Delete every topic whose name starts with one of ``prefixes`` (test clean-up); returns how many."""
    admin = _admin(bootstrap_servers, 30.0, security or {})
    try:
        doomed = [name for name in admin.list_topics() if name.startswith(tuple(prefixes))]
        if doomed:
            admin.delete_topics(doomed, timeout_ms=60_000)
        return len(doomed)
    finally:
        admin.close()
