"""pytest plugin: run one service's tests with the other services unimportable (``make test-alone``).

    ALONE_SERVICE=dispatch python -m pytest -p tests.alone tests/unit/test_dispatch_state.py

With ``ALONE_SERVICE`` set it installs ``tests.blocker``'s finder before the conftest files are imported, puts the
repository root on ``PYTHONPATH`` so that every Python process a test starts installs it too (the root
``sitecustomize.py``), and leaves out the fixture plugins of ``tests/conftest.py`` (``pytest_plugins``) that cannot be
imported without a blocked service: their fixtures are then missing, and a test that needs one fails saying so. A
test that imports another service fails with the blocker's ``ModuleNotFoundError``. Without the variable: nothing.
"""

from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path

import pytest

from tests.blocker import ENV, BlockedServiceImport, install_from_environment

ROOT = Path(__file__).resolve().parent.parent
_left_out: dict[str, str] = {}


def conftest_plugins() -> list[str]:
    """The ``pytest_plugins`` of tests/conftest.py, read without importing it."""
    tree = ast.parse((ROOT / "tests" / "conftest.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytest_plugins"
                                                for t in node.targets):
            return [str(v) for v in ast.literal_eval(node.value)]
    return []


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    blocker = install_from_environment()
    if blocker is None:
        return
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *paths])
    for name in conftest_plugins():
        early_config.pluginmanager.rewrite_hook.mark_rewrite(name)  # as pytest would import it: asserts rewritten
        try:
            importlib.import_module(name)
        except BlockedServiceImport as blocked:
            early_config.pluginmanager.set_blocked(name)
            _left_out[name] = str(blocked.name)


def pytest_report_header(config: pytest.Config) -> list[str]:
    alone = os.environ.get(ENV)
    if not alone:
        return []
    lines = [f"{ENV}={alone}: other services unimportable (tests/blocker.py)"]
    lines += [f"  fixture plugin {name} left out: it imports {module}" for name, module in _left_out.items()]
    return lines
