"""The one place the workbench is wired: settings, info-share's client, the session store, body names."""

from __future__ import annotations

from collections import defaultdict

from fastapi import FastAPI

from services.reference.loader import load_reference_data
from services.workbench.adapters.demo_idp import DemoIdp
from services.workbench.adapters.lifecycle_client import LifecycleClient
from services.workbench.adapters.oidc import OidcClient
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
    oidc = None
    if settings.oidc_enabled:
        assert settings.workbench_oidc_token_url and settings.workbench_oidc_redirect_url  # the settings check
        secret = settings.workbench_oidc_client_secret
        oidc = OidcClient(authorization_url=str(settings.workbench_oidc_authorization_url),
                          token_url=settings.workbench_oidc_token_url, client_id=settings.workbench_oidc_client_id,
                          client_secret=secret.get_secret_value() if secret else None,
                          redirect_url=settings.workbench_oidc_redirect_url,
                          timeout_seconds=settings.workbench_upstream_timeout_seconds)
    demo_idp = None
    if settings.workbench_demo_idp:
        assert settings.jwt_secret and settings.workbench_oidc_client_secret  # the settings check
        demo_idp = DemoIdp(client_id=settings.workbench_oidc_client_id,
                           client_secret=settings.workbench_oidc_client_secret.get_secret_value(),
                           redirect_url=settings.workbench_oidc_redirect_url or "",
                           secret=settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer,
                           audience=settings.jwt_audience, lifetime_seconds=settings.workbench_session_seconds)
    app = create_app(Deps(settings=settings, api=api, sessions=MemorySessionStore(), body_names=names,
                          county_bodies=dict(county_bodies), oidc=oidc, demo_idp=demo_idp))
    app.router.on_shutdown.append(api.aclose)
    if oidc is not None:
        app.router.on_shutdown.append(oidc.aclose)
    return app
