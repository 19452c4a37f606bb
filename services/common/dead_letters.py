"""Dead letters: an event no handler can read is kept, with the reason and its origin in headers."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from services.common.envelope import Record

DEAD_LETTERS = Counter("liandong_dead_letters_total", "Events sent to the dead-letter topic", ["service", "topic"])


def dead_letter(service: str, key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]],
                reason: str, topic: str, partition: int, offset: int) -> Record:
    DEAD_LETTERS.labels(service, topic).inc()
    kept = [(name, raw) for name, raw in headers if not name.startswith("dlq_")]
    kept += [
        ("dlq_reason", reason.encode()[:4000]),
        ("dlq_service", service.encode()),
        ("dlq_topic", topic.encode()),
        ("dlq_partition", str(partition).encode()),
        ("dlq_offset", str(offset).encode()),
    ]
    return Record(key, value or b"", kept)
