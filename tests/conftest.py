"""Fixtures shared by every tier: the real broker, per-test topics and groups, PostgreSQL.

The broker is started once per session (or reused when LIANDONG_TEST_BOOTSTRAP_SERVERS names one); each test gets
its own topic prefix and consumer-group prefix, so tests never share topics, groups or ids.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.kafka.local_kafka import LocalKafka, free_port
from services.common.kafka_admin import delete_topics_with_prefixes, ensure_topics
from services.common.polling import poll_until

pytest_plugins = ["tests.stack_fixtures", "tests.patrol_served", "tests.info_share_served"]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    named = os.environ.get("LIANDONG_TEST_BOOTSTRAP_SERVERS")
    if named:
        yield named
        return
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture
def unique_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_prefix(kafka_bootstrap: str, unique_id: str) -> Iterator[str]:
    """A fresh prefix with every declared topic created under it (deleted again after the test)."""
    prefix = f"t{unique_id}"
    ensure_topics(kafka_bootstrap, prefix)
    yield prefix
    with contextlib.suppress(Exception):
        delete_topics_with_prefixes(kafka_bootstrap, [f"{prefix}."])


def _postgres_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the session: LIANDONG_TEST_POSTGRES_URL, or one started from Debian's binaries."""
    named = os.environ.get("LIANDONG_TEST_POSTGRES_URL")
    if named:
        yield named
        return
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL server binaries not found: apt-get install postgresql (or set "
                    "LIANDONG_TEST_POSTGRES_URL)")
    # Not under pytest's tmp dir: that is private to root, and PostgreSQL refuses to run as root.
    base_dir = Path(tempfile.mkdtemp(prefix="liandong-pg-"))
    data_dir = base_dir / "data"
    port = free_port()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base_dir, "postgres")
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", "liandong",
                    "--no-sync"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(data_dir / "server.log"),
                    "-o", f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off", "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        import psycopg

        def ready() -> bool:
            try:
                with psycopg.connect(f"host=127.0.0.1 port={port} user=liandong dbname=postgres") as conn:
                    conn.autocommit = True
                    conn.execute("CREATE DATABASE liandong")
                return True
            except psycopg.Error:
                return False

        poll_until(ready, 30, message="PostgreSQL ready")
        yield f"postgresql+psycopg://liandong@127.0.0.1:{port}/liandong"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"],
                       check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(base_dir, ignore_errors=True)
