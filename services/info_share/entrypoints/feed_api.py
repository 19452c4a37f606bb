"""The feed and its ledger: pages, the live stream (Server-Sent Events), the chain's head and links."""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.orm import Session

from schemas.api import LedgerHead, LedgerLink
from schemas.bounds import MAX_SEQUENCE
from schemas.events import FeedEntry
from services.common.principal import Principal
from services.info_share import metrics
from services.info_share.adapters import queries
from services.info_share.entrypoints import answers
from services.info_share.entrypoints.deps import (
    SSE_RETRY_MILLISECONDS,
    AnyCaller,
    DbSession,
    FeedFilters,
    State,
    reader_key,
    resume_cursor,
    stream_room,
)
from services.reference.loader import ReferenceData

STREAM_PAGE = 200

router = APIRouter()


@router.get("/v1/feed", response_model=list[FeedEntry])
def feed(db: DbSession, state: State, who: AnyCaller, where: FeedFilters, response: Response,
         after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="the last sequence seen")] = 0,
         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[FeedEntry]:
    """Entries after the cursor, in order; ``X-Next-Cursor`` (and ``Link: rel=next``) give the next cursor."""
    entries = feed_entries(db, state.reference, who, where, after, limit)
    cursor = entries[-1].sequence if entries else after
    response.headers["X-Next-Cursor"] = str(cursor)
    response.headers["Link"] = f'</v1/feed?after={cursor}&limit={limit}>; rel="next"'
    return entries


@router.get("/v1/feed/stream", response_class=EventSourceResponse, dependencies=[Depends(stream_room)])
async def feed_stream(request: Request, state: State, who: AnyCaller, where: FeedFilters,
                      cursor: Annotated[int, Depends(resume_cursor)]) -> AsyncIterator[ServerSentEvent]:
    """Live feed (Server-Sent Events): every entry after ``Last-Event-ID`` (or ``after``), then new ones as they
    arrive; each event's id is its sequence, so a reconnecting client resumes exactly where it stopped."""

    def next_page(from_sequence: int) -> list[FeedEntry]:
        with state.sessions() as db:
            return feed_entries(db, state.reference, who, where, from_sequence, STREAM_PAGE)

    key = reader_key(request, who)
    state.streams.open(key)
    metrics.LIVE_STREAMS.inc()
    try:
        yield ServerSentEvent(retry=SSE_RETRY_MILLISECONDS, comment=f"liandong feed after {cursor}")
        while True:
            entries = await anyio.to_thread.run_sync(next_page, cursor)
            for entry in entries:
                yield ServerSentEvent(data=entry, id=str(entry.sequence), event="feed_entry")
                cursor = entry.sequence
            if len(entries) < STREAM_PAGE:
                await asyncio.sleep(state.settings.feed_poll_seconds)
    finally:
        metrics.LIVE_STREAMS.dec()
        state.streams.close(key)


def feed_entries(db: Session, reference: ReferenceData, who: Principal, where: queries.Filters, after: int,
                 limit: int) -> list[FeedEntry]:
    rows = queries.feed_page(db, reference=reference, filters=where, after=after, limit=limit)
    parties = queries.parties_of(db, {r.case_id for r in rows}) if who.is_official else {}
    tallies = answers.Tallies()
    entries = answers.feed_entries(rows, caller=who, parties=parties, reference=reference, tallies=tallies)
    tallies.flush()
    return entries


@router.get("/v1/ledger/head", response_model=LedgerHead)
def ledger_head(db: DbSession, _who: AnyCaller) -> LedgerHead:
    """The ledger's last entry (sequence and chain hash): open to everyone, it holds no case content. Keep it, or
    check a kept copy of the feed against it (``python -m services.info_share.entrypoints.cli_verify_feed``)."""
    sequence, head_hash = queries.ledger_head(db)
    return LedgerHead(sequence=sequence, hash=head_hash)


@router.get("/v1/ledger/links", response_model=list[LedgerLink])
def ledger_links(db: DbSession, _who: AnyCaller, response: Response,
                 after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="the last sequence seen")] = 0,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list[LedgerLink]:
    """The chain without contents (sequence, prev_hash, hash), in order: what a copy of the feed that is
    filtered, masked or missing entries the caller may not see is checked against."""
    links = [LedgerLink(sequence=s, prev_hash=p, hash=h)
             for s, p, h in queries.ledger_links(db, after=after, limit=limit)]
    response.headers["X-Next-Cursor"] = str(links[-1].sequence if links else after)
    return links
