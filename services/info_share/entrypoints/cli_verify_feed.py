"""Check a kept copy of the feed against the ledger as info-share serves it now.

    python -m services.info_share.entrypoints.cli_verify_feed COPY [COPY …] --url http://127.0.0.1:8082
    python -m services.info_share.entrypoints.cli_verify_feed --topic liandong.feed \
        --bootstrap-servers 127.0.0.1:9092 --url …

A copy is what a consumer kept: pages of ``GET /v1/feed`` (JSON arrays, one or more per file), JSON lines of feed
entries, or the records of the Kafka feed topic (read from the beginning with ``--topic``). Every entry carries its
ledger ``sequence``, ``ledger_hash`` and ``prev_hash``; the command reads the published head
(``GET /v1/ledger/head``) and the chain's links from the copy's first entry to it (``GET /v1/ledger/links``), and
checks that the ledger still holds every kept entry unchanged and leads from them to the head.

Exit status 0 when the copy agrees (prints the head), 1 naming the first disagreement (entries cut off the ledger's
end, an entry rewritten), 2 when the copy or the service cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
from pydantic import ValidationError

from schemas.api import LedgerHead, LedgerLink
from schemas.events import FeedEntry
from services.common.envelope import PoisonEvent, decode
from services.info_share.adapters.replay import read_topic
from services.info_share.domain.ledger import ChainLink, CopyVerdict, Head, check_copy

LINKS_PAGE = 5000


class CopyUnreadable(Exception):
    """A copy that is not feed entries, or entries without their ledger hashes."""


def links_of_copy(entries: Iterable[FeedEntry]) -> Iterator[ChainLink]:
    for entry in entries:
        if entry.ledger_hash is None or entry.prev_hash is None:
            raise CopyUnreadable(f"the entry at sequence {entry.sequence} carries no ledger hash")
        yield ChainLink(entry.sequence, entry.prev_hash, entry.ledger_hash)


def entries_in_files(paths: Iterable[Path]) -> Iterator[FeedEntry]:
    """Feed pages as ``GET /v1/feed`` answers them (JSON arrays) or JSON lines, one entry or one page a line."""
    for path in paths:
        text = path.read_text(encoding="utf-8")
        try:
            documents = [json.loads(text)] if text.lstrip().startswith("[") else [
                json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise CopyUnreadable(f"{path}: not JSON ({exc})") from None
        for document in documents:
            for item in document if isinstance(document, list) else [document]:
                yield _entry(item, str(path))


def entries_on_topic(topic: str, bootstrap_servers: str) -> Iterator[FeedEntry]:
    """Every record of the feed topic from the beginning up to the end it has now (binary-mode CloudEvents)."""
    try:
        records = read_topic(bootstrap_servers, topic)
    except LookupError as exc:
        raise CopyUnreadable(str(exc)) from None
    for record in records:
        try:
            _ce, entry = decode(record.headers, record.value, (FeedEntry,))
        except PoisonEvent as exc:
            raise CopyUnreadable(f"{topic}/{record.partition}@{record.offset}: not a feed entry ({exc})") from None
        yield cast(FeedEntry, entry)


def _entry(item: Any, where: str) -> FeedEntry:
    try:
        return FeedEntry.model_validate(item)
    except ValidationError as exc:
        raise CopyUnreadable(f"{where}: not a feed entry ({exc.error_count()} problems, first: "
                             f"{exc.errors()[0]['msg']})") from None


def served_chain(client: httpx.Client, after: int, head: int) -> Iterator[ChainLink]:
    """The ledger's links after ``after`` up to the head, page by page."""
    while after < head:
        answer = client.get("/v1/ledger/links", params={"after": after, "limit": LINKS_PAGE})
        answer.raise_for_status()
        page = [LedgerLink.model_validate(item) for item in answer.json()]
        if not page:
            return
        for link in page:
            yield ChainLink(link.sequence, link.prev_hash, link.hash)
        after = page[-1].sequence


def verify(copy: Iterable[FeedEntry], client: httpx.Client) -> CopyVerdict:
    kept = list(links_of_copy(copy))
    answer = client.get("/v1/ledger/head")
    answer.raise_for_status()
    published = LedgerHead.model_validate(answer.json())
    first = min((link.sequence for link in kept), default=1)
    served = served_chain(client, first - 1, published.sequence)
    return check_copy(kept, served, Head(published.sequence, published.hash))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("copies", nargs="*", type=Path, help="files of feed pages or JSON lines")
    parser.add_argument("--url", required=True, help="info-share's base URL, e.g. http://127.0.0.1:8082")
    parser.add_argument("--token", help="a bearer token (the ledger's head and links are open to everyone)")
    parser.add_argument("--topic", help="read the copy from this Kafka feed topic instead of files")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    args = parser.parse_args(argv)
    if bool(args.copies) == bool(args.topic):
        parser.error("give either copy files or --topic")
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    copy = entries_on_topic(args.topic, args.bootstrap_servers) if args.topic else entries_in_files(args.copies)
    try:
        with httpx.Client(base_url=args.url, headers=headers, timeout=30) as client:
            verdict = verify(copy, client)
    except (CopyUnreadable, OSError) as exc:
        print(f"cannot read the copy: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"cannot read the ledger from {args.url}: {exc}", file=sys.stderr)
        return 2
    if verdict.problem is None:
        print(f"copy agrees with the ledger: {verdict.entries} entries kept; head sequence "
              f"{verdict.head.sequence}, hash {verdict.head.hash}")
        return 0
    print(f"copy DISAGREES with the ledger ({verdict.entries} entries kept): {verdict.problem}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
