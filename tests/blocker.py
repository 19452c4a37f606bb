"""Make the other services unimportable: a ``sys.meta_path`` finder for "one service alone" runs.

With ``ALONE_SERVICE=<service>`` (one of ``SERVICES``), importing ``services.<any other service>`` raises
``ModuleNotFoundError``; with ``ALONE_SERVICE=shared`` every service is blocked and only the shared packages
(``services.common``, ``services.reference``, ``schemas``, ``deploy``) import. Installed in the pytest process by the
``tests.alone`` plugin and in every Python process started with the repository root on ``PYTHONPATH`` by the root
``sitecustomize.py`` — the services' own processes that tests start included (deploy/local_stack.py puts the root
on their ``PYTHONPATH`` and passes the variable on). Standard library only: it runs at interpreter start-up.

The variable is not named LIANDONG_*: the stack strips LIANDONG_* variables from the processes it starts, and the
services read LIANDONG_* variables as their settings.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

ENV = "ALONE_SERVICE"
SERVICES = ("patrol", "dispatch", "info_share", "workbench", "teams", "monitor")
SHARED = "shared"  # ALONE_SERVICE=shared: every service blocked


class BlockedServiceImport(ModuleNotFoundError):
    """An import of another service's package while one service runs alone."""


class ServiceBlocker(importlib.abc.MetaPathFinder):
    def __init__(self, alone: str) -> None:
        if alone != SHARED and alone not in SERVICES:
            raise ValueError(f"{ENV}={alone!r}: expected one of {', '.join(SERVICES)} or {SHARED}")
        self.alone = alone
        self.blocked = frozenset(s for s in SERVICES if s != alone)

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        parts = fullname.split(".")
        if len(parts) >= 2 and parts[0] == "services" and parts[1] in self.blocked:
            who = "the shared tests" if self.alone == SHARED else f"services.{self.alone} alone"
            raise BlockedServiceImport(
                f"{fullname} is blocked: {ENV}={self.alone} runs {who}, and services.{parts[1]} is another service",
                name=fullname)
        return None

    def __repr__(self) -> str:
        return f"ServiceBlocker(alone={self.alone!r}, blocked={sorted(self.blocked)})"


def installed() -> ServiceBlocker | None:
    return next((f for f in sys.meta_path if isinstance(f, ServiceBlocker)), None)


def install(alone: str) -> ServiceBlocker:
    """Install the finder first on ``sys.meta_path`` (once); fail if a blocked service is imported already."""
    current = installed()
    if current is not None:
        if current.alone != alone:
            raise RuntimeError(f"{current!r} installed already; asked for {alone!r}")
        return current
    blocker = ServiceBlocker(alone)
    already = sorted(name for name in sys.modules
                     if name.split(".")[:1] == ["services"] and name.split(".")[1:2]
                     and name.split(".")[1] in blocker.blocked)
    if already:
        raise RuntimeError(f"{ENV}={alone}: blocked modules imported before the blocker was installed: {already}")
    sys.meta_path.insert(0, blocker)
    return blocker


def install_from_environment() -> ServiceBlocker | None:
    alone = os.environ.get(ENV, "").strip()
    return install(alone) if alone else None
