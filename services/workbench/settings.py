"""Workbench settings, read from LIANDONG_* variables (one object; nothing else reads the environment)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from services.common.settings import LiandongSettings, real_secret


class WorkbenchSettings(LiandongSettings):
    # Where info-share's lifecycle API answers; the workbench reads and acts only through it.
    info_share_url: str = "http://127.0.0.1:8082"
    # Signs the session cookie; no default (a placeholder is refused, as for the token key).
    workbench_session_secret: SecretStr = Field(description="HMAC key of the session cookie; no default")
    workbench_session_seconds: int = Field(8 * 3600, gt=0)  # a working day; the token lives as long
    # Secure cookies need HTTPS; the local stack serves plain HTTP on loopback, production sets this true.
    workbench_cookie_secure: bool = False
    # Demo sign-in mints tokens with the shared key: only for make run and the tests, never in production.
    workbench_demo_sign_in: bool = False
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "liandong-idp"
    jwt_audience: str = "liandong-info-share"
    # OIDC authorization-code sign-in (with PKCE) against a configured IdP: on when the authorization URL is set.
    workbench_oidc_authorization_url: str | None = None
    workbench_oidc_token_url: str | None = None
    workbench_oidc_client_id: str = "liandong-workbench"
    workbench_oidc_client_secret: SecretStr | None = None
    # The callback as the IdP knows it (registered there): https://…/oidc/callback
    workbench_oidc_redirect_url: str | None = None
    # A local demo IdP at /demo-idp/… (for make run and the tests; needs demo sign-in's key), never in production.
    workbench_demo_idp: bool = False
    # How long one call to info-share may take: an action waits up to its LIANDONG_ACTION_WAIT_SECONDS (10 s).
    workbench_upstream_timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("workbench_session_secret")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr) -> SecretStr:
        return real_secret(value, "LIANDONG_WORKBENCH_SESSION_SECRET")

    @model_validator(mode="after")
    def _demo_needs_the_key(self) -> WorkbenchSettings:
        if self.workbench_demo_sign_in and self.jwt_secret is None:
            raise ValueError("LIANDONG_WORKBENCH_DEMO_SIGN_IN needs LIANDONG_JWT_SECRET to mint demo tokens")
        if self.workbench_demo_idp and (self.jwt_secret is None or self.workbench_oidc_client_secret is None):
            raise ValueError("LIANDONG_WORKBENCH_DEMO_IDP needs LIANDONG_JWT_SECRET and the OIDC client secret")
        if self.workbench_oidc_authorization_url and not (self.workbench_oidc_token_url
                                                          and self.workbench_oidc_redirect_url):
            raise ValueError("OIDC sign-in needs LIANDONG_WORKBENCH_OIDC_TOKEN_URL and _REDIRECT_URL as well")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.workbench_oidc_authorization_url)
