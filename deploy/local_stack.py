"""Start and stop the whole stack on this machine: broker, topics, dispatch, info-share (worker + API), patrol, the
workbench, and with ``monitoring`` the consumer-lag exporter and a Prometheus (where Debian's ``prometheus`` is
installed).

Used by ``make run`` (through ``scripts/run_demo.py``) and by the end-to-end tests. Every process it starts is
stopped deliberately by ``stop()`` — SIGTERM, then SIGKILL after a grace period — because a Faust worker may not
stop on SIGTERM in time, and nothing may be left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from deploy import local_prometheus
from deploy.kafka.local_kafka import LocalKafka, LocalKafkaCluster, free_port
from services.common.delivery import EVERY_COUNTY, KafkaDelivery
from services.common.kafka_admin import body_topics, ensure_topics
from services.common.polling import poll_until

ROOT = Path(__file__).resolve().parent.parent
# Settings the stack decides for every process it starts, whatever the environment says: they must agree between
# the processes (one broker, one topic and group naming, one register, one token key). Every other LIANDONG_*
# variable of the environment reaches every process (see the README's "Configuration").
STACK_SETTINGS = ("BOOTSTRAP_SERVERS", "TOPIC_PREFIX", "GROUP_PREFIX", "DATABASE_URL", "CASE_VIEW_URL", "JWT_SECRET",
                  "API_KEYS")
# The settings `Stack.from_environment` takes from LIANDONG_* variables instead of its defaults.
FROM_ENVIRONMENT = ("TOPIC_PREFIX", "GROUP_PREFIX", "DATABASE_URL", "CASE_VIEW_URL", "JWT_SECRET", "API_KEYS")


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except (URLError, OSError):
            return False
    return check


@dataclass
class ManagedProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, grace_seconds: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        # The process leads its own session, so the signal reaches anything it started too.
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def kill(self) -> None:
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pid, sig)


@dataclass
class Stack:
    """The services of one deployment on loopback; ports are chosen free unless given."""

    run_dir: Path
    bootstrap_servers: str = ""
    topic_prefix: str = "liandong"
    group_prefix: str = "liandong"
    database_url: str = ""  # info-share's register
    case_view_url: str = ""  # patrol's read model of the case events
    jwt_secret: str = "local-demo-secret-not-for-production"
    patrol_port: int = 0
    info_share_port: int = 0
    dispatch_web_port: int = 0
    info_share_web_port: int = 0
    case_views_web_port: int = 0
    # LIANDONG_API_KEYS of patrol ("key=principal:townships;…", docs/patrol.md): the Open311 and system callers.
    api_keys: str = ""
    lag_exporter_port: int = 0
    prometheus_port: int = 0
    workbench_port: int = 0
    workbench_session_secret: str = "local-demo-session-key-not-for-production"
    # The local stack is for demos and tests: its workbench lets anyone sign in as any body (docs/workbench.md).
    workbench_demo_sign_in: bool = True
    # 1: a single local broker (the default); 3: a local three-node cluster (RF 3, min.insync.replicas 2).
    brokers: int = 1
    broker_host: str = "127.0.0.1"  # the address the broker's client listeners bind and advertise
    broker: LocalKafka | LocalKafkaCluster | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # more LIANDONG_* settings for every process
    # Pass the environment's own LIANDONG_* variables on (make run); the test fixtures turn it off to be hermetic.
    inherit_settings: bool = True
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        self.patrol_port = self.patrol_port or free_port()
        self.info_share_port = self.info_share_port or free_port()
        self.dispatch_web_port = self.dispatch_web_port or free_port()
        self.info_share_web_port = self.info_share_web_port or free_port()
        self.case_views_web_port = self.case_views_web_port or free_port()
        self.lag_exporter_port = self.lag_exporter_port or free_port()
        self.prometheus_port = self.prometheus_port or free_port()
        self.workbench_port = self.workbench_port or free_port()
        self.database_url = self.database_url or f"sqlite:///{self.run_dir / 'register.db'}"
        self.case_view_url = self.case_view_url or f"sqlite:///{self.run_dir / 'patrol-cases.db'}"

    @classmethod
    def from_environment(cls, run_dir: Path, environ: dict[str, str] | None = None, **options: object) -> Stack:
        """A stack whose shared settings come from LIANDONG_* variables where set (``FROM_ENVIRONMENT``)."""
        environ = dict(os.environ if environ is None else environ)
        for name in FROM_ENVIRONMENT:
            value = environ.get(f"LIANDONG_{name}")
            if value:
                options.setdefault(name.lower(), value)
        return cls(run_dir, **options)  # type: ignore[arg-type]

    @property
    def workbench_url(self) -> str:
        return f"http://127.0.0.1:{self.workbench_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LIANDONG_") or (self.inherit_settings and k[9:] not in STACK_SETTINGS)}
        env.update({
            "LIANDONG_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "LIANDONG_TOPIC_PREFIX": self.topic_prefix,
            "LIANDONG_GROUP_PREFIX": self.group_prefix,
            "LIANDONG_DATABASE_URL": self.database_url,
            "LIANDONG_CASE_VIEW_URL": self.case_view_url,
            "LIANDONG_JWT_SECRET": self.jwt_secret,
            "LIANDONG_API_KEYS": self.api_keys,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start_broker(self, port: int = 0) -> None:
        if self.bootstrap_servers:
            return
        if self.brokers == 1:
            self.broker = LocalKafka(self.run_dir / "kafka", port=port or free_port(), controller_port=free_port(),
                                     host=self.broker_host)
        else:
            self.broker = LocalKafkaCluster(self.run_dir / "kafka-cluster", size=self.brokers,
                                            ports=[port] + [free_port() for _ in range(self.brokers - 1)]
                                            if port else [], host=self.broker_host)
        self.broker.start()
        self.bootstrap_servers = self.broker.bootstrap_servers

    def start_process(self, name: str, args: list[str], ready: Callable[[], bool] | None,
                      timeout_seconds: float = 60.0) -> ManagedProcess:
        """A Python module of this project (``args`` after the interpreter)."""
        return self.start_command(name, [sys.executable, *args], ready, timeout_seconds)

    def start_command(self, name: str, command: list[str], ready: Callable[[], bool] | None,
                      timeout_seconds: float = 60.0, env: dict[str, str] | None = None) -> ManagedProcess:
        log_path = self.run_dir / "logs" / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        managed = ManagedProcess(name, process, log_path)
        self.processes[name] = managed
        deadline = time.monotonic() + timeout_seconds
        while ready is not None and not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready within {timeout_seconds}s; see {log_path}")
            time.sleep(0.2)
        return managed

    def start_dispatch(self, name: str = "dispatch", web_port: int = 0) -> ManagedProcess:
        port = web_port or (self.dispatch_web_port if name == "dispatch" else free_port())
        # Each worker its own state directory, kept across its restarts (a restarted worker reads the changelogs'
        # tail only); a LIANDONG_DISPATCH_STATE_DIR of the environment passed on, or of extra_env, wins.
        env = ({} if "LIANDONG_DISPATCH_STATE_DIR" in self.env
               else {"LIANDONG_DISPATCH_STATE_DIR": str(self.run_dir / "dispatch-state" / name)})
        return self.start_command(name, [sys.executable, "-m", "services.dispatch", "--web-port", str(port)],
                                  http_ok(f"http://127.0.0.1:{port}/metrics"), env=env)

    def start_relay(self, name: str = "relay", web_port: int = 0) -> ManagedProcess:
        """The relay of the bodies' own responses topics onto referral-responses.

        services/dispatch/entrypoints/relay.py.
        """
        port = web_port or free_port()
        return self.start_process(name, ["-m", "services.dispatch.entrypoints.relay", "--web-port", str(port)],
                                  http_ok(f"http://127.0.0.1:{port}/metrics"))

    def start_info_share_worker(self) -> ManagedProcess:
        return self.start_process(
            "info-share-worker",
            ["-m", "services.info_share.entrypoints.worker", "--web-port", str(self.info_share_web_port)],
            http_ok(f"http://127.0.0.1:{self.info_share_web_port}/metrics"))

    def start_info_share_api(self) -> ManagedProcess:
        return self.start_process("info-share-api", ["-m", "services.info_share", "--port", str(self.info_share_port)],
                                  http_ok(f"http://127.0.0.1:{self.info_share_port}/healthz"))

    def start_patrol_case_views(self) -> ManagedProcess:
        """Patrol's read-model worker: the case events into patrol's own case view.

        services/patrol/entrypoints/case_views.py.
        """
        return self.start_process(
            "patrol-case-views",
            ["-m", "services.patrol.entrypoints.case_views", "--web-port", str(self.case_views_web_port)],
            http_ok(f"http://127.0.0.1:{self.case_views_web_port}/metrics"))

    def start_patrol(self) -> ManagedProcess:
        return self.start_process("patrol", ["-m", "services.patrol", "--port", str(self.patrol_port)],
                                  http_ok(f"http://127.0.0.1:{self.patrol_port}/healthz"))

    def start_workbench(self) -> ManagedProcess:
        """The browser workbench, a client of this stack's info-share API (services/workbench/)."""
        env = {"LIANDONG_INFO_SHARE_URL": f"http://127.0.0.1:{self.info_share_port}",
               "LIANDONG_WORKBENCH_SESSION_SECRET": self.workbench_session_secret,
               "LIANDONG_WORKBENCH_DEMO_SIGN_IN": "true" if self.workbench_demo_sign_in else "false"}
        if self.workbench_demo_sign_in:
            # The same code flow a real IdP would run, against the workbench's own demo IdP (docs/workbench.md).
            env |= {"LIANDONG_WORKBENCH_DEMO_IDP": "true",
                    "LIANDONG_WORKBENCH_OIDC_AUTHORIZATION_URL": f"{self.workbench_url}/demo-idp/authorize",
                    "LIANDONG_WORKBENCH_OIDC_TOKEN_URL": f"{self.workbench_url}/demo-idp/token",
                    "LIANDONG_WORKBENCH_OIDC_REDIRECT_URL": f"{self.workbench_url}/oidc/callback",
                    "LIANDONG_WORKBENCH_OIDC_CLIENT_SECRET": "local-demo-oidc-client-secret"}
        return self.start_command("workbench", [sys.executable, "-m", "services.workbench",
                                                "--port", str(self.workbench_port)],
                                  http_ok(f"{self.workbench_url}/healthz"), env=env)

    def start_lag_exporter(self, interval_seconds: float = 5.0) -> ManagedProcess:
        return self.start_process(
            "lag-exporter", ["-m", "services.monitor", "--port", str(self.lag_exporter_port),
                             "--interval", str(interval_seconds)],
            http_ok(f"http://127.0.0.1:{self.lag_exporter_port}/healthz"))

    def scrape_targets(self) -> dict[str, str]:
        """Each shipped Prometheus job (deploy/prometheus/prometheus.yml) and where this stack serves it."""
        ports = {"patrol": self.patrol_port, "dispatch": self.dispatch_web_port,
                 "info-share-worker": self.info_share_web_port, "info-share-api": self.info_share_port,
                 "patrol-case-views": self.case_views_web_port, "lag-exporter": self.lag_exporter_port}
        return {job: f"127.0.0.1:{port}" for job, port in ports.items()}

    def start_prometheus(self, scrape_interval: str = "5s") -> ManagedProcess | None:
        """Prometheus with the shipped scrape jobs, recording and alert rules; None where it is not installed."""
        binary = local_prometheus.prometheus_binary()
        if binary is None:
            return None
        work_dir = self.run_dir / "prometheus"
        config = local_prometheus.write_config(work_dir, self.prometheus_port, self.scrape_targets(),
                                               scrape_interval)
        return self.start_command("prometheus", local_prometheus.command(binary, config, work_dir,
                                                                         self.prometheus_port),
                                  http_ok(f"{self.prometheus_url}/-/ready"))

    def prepare_topics(self, timeout_seconds: float = 180.0) -> None:
        """Every topic the stack's processes use — the core ones, each body's two, dispatch's changelogs — created
        and led before any process starts: on a busy machine a fresh broker may otherwise take longer to lead
        hundreds of new topics than dispatch's start allows (it fails reading their offsets)."""
        from services.dispatch.entrypoints.worker import changelog_specs  # the worker's own names, not a copy of them
        from services.reference.loader import load_reference_data

        delivery = KafkaDelivery.parse(self.env.get("LIANDONG_KAFKA_DELIVERY_COUNTIES", EVERY_COUNTY))
        extra = [*body_topics(delivery.bodies(b.body_id for b in load_reference_data().bodies()), self.topic_prefix),
                 *changelog_specs(f"{self.group_prefix}-dispatch")]
        topics = ensure_topics(self.bootstrap_servers, self.topic_prefix, extra=extra,
                               timeout_seconds=timeout_seconds)
        poll_until(lambda: _all_led(self.bootstrap_servers, topics), timeout_seconds, 1.0, "a leader for every topic")

    def start_all(self, monitoring: bool = False, scrape_interval: str = "5s") -> None:
        self.start_broker()
        self.prepare_topics()
        self.start_info_share_worker()
        self.start_patrol_case_views()
        self.start_dispatch()
        self.start_relay()
        self.start_info_share_api()
        self.start_patrol()
        self.start_workbench()
        if monitoring:
            interval = float(scrape_interval.rstrip("s"))
            self.start_lag_exporter(interval_seconds=min(interval, 5.0))
            self.start_prometheus(scrape_interval)

    def stop(self) -> None:
        for managed in reversed(list(self.processes.values())):
            managed.stop()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()


def _all_led(bootstrap_servers: str, topics: list[str]) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=60_000)
    try:
        return all(p["leader_id"] >= 0 for d in admin.describe_topics(topics) for p in d["partitions"])
    finally:
        admin.close()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
