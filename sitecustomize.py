"""Start-up hook of every Python process run with the repository root on PYTHONPATH: nothing, unless ALONE_SERVICE is
set, in which case the other services' packages are made unimportable (tests/blocker.py; `make test-alone`)."""

import os

if os.environ.get("ALONE_SERVICE"):
    from tests.blocker import install_from_environment

    install_from_environment()
