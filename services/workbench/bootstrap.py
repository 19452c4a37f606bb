"""The one place the workbench is wired: settings, info-share's client, the session store, body names."""

from __future__ import annotations

from collections import defaultdict

from fastapi import FastAPI

from services.reference.loader import load_reference_data
from services.workbench.adapters.lifecycle_client import LifecycleClient
from services.workbench.adapters.session_store import MemorySessionStore
from services.workbench.entrypoints.web import Deps, create_app
from services.workbench.settings import WorkbenchSettings


def bootstrap(settings: WorkbenchSettings | None = None) -> FastAPI:
    settings = settings or WorkbenchSettings()  # type: ignore[call-arg]  # the secret comes from the environment
    # Names of bodies and townships come from the reference data every service shares, not from the register.
    reference = load_reference_data()
    names = {b.body_id: b.name for b in reference.bodies()}
    for code, township in reference.townships.items():  # a township office without a body entry keeps its place
        names.setdefault(f"township:{code}", township.name)
    county_bodies: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for body in sorted(reference.bodies(), key=lambda b: b.body_id):
        if not body.body_id.startswith("coordination:"):
            county_bodies[body.county_code].append((body.body_id, body.name))
    api = LifecycleClient(settings.info_share_url, settings.workbench_upstream_timeout_seconds)
    app = create_app(Deps(settings=settings, api=api, sessions=MemorySessionStore(), body_names=names,
                          county_bodies=dict(county_bodies)))
    app.router.on_shutdown.append(api.aclose)
    return app
