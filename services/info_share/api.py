"""HTTP API of the shared feed and the case register (read-only)."""


from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session

from schemas.events import FeedEntry
from services.info_share import queries
from services.info_share.register.database import create_schema, make_engine, session_factory
from services.info_share.settings import InfoShareSettings
from services.reference.loader import load_reference_data


def create_app(settings: InfoShareSettings) -> FastAPI:
    engine = make_engine(settings.database_url)
    create_schema(engine)
    sessions = session_factory(engine)
    reference = load_reference_data()
    app = FastAPI(title="liandong shared enforcement-information feed", version="1.0.0")

    def session() -> Iterator[Session]:
        with sessions() as s:
            yield s

    DbSession = Annotated[Session, Depends(session)]

    @app.get("/v1/feed", response_model=list[FeedEntry])
    def feed(db: DbSession, after: Annotated[int, Query(ge=0)] = 0,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[FeedEntry]:
        return queries.feed_page(db, reference, after, limit)

    @app.get("/v1/cases/{case_id}")
    def case(db: DbSession, case_id: str) -> dict[str, object]:
        view = queries.case_view(db, case_id)
        if view is None:
            raise HTTPException(404, f"no case {case_id}")
        return view

    @app.get("/v1/stats/summary")
    def summary(db: DbSession) -> dict[str, object]:
        return queries.summary(db)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
