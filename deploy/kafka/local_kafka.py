"""Apache Kafka (KRaft, combined broker+controller nodes) on 127.0.0.1, run from Maven Central jars without Docker:
a single node, or a three-node cluster (``--brokers 3``: a controller quorum of all three, replication factor 3,
``min.insync.replicas=2``, unclean leader election off).

Usage (also importable, see ``LocalKafka`` and ``LocalKafkaCluster``):

    python deploy/kafka/local_kafka.py fetch
    python deploy/kafka/local_kafka.py start --data-dir .run/kafka --port 9092
    python deploy/kafka/local_kafka.py stop  --data-dir .run/kafka
    python deploy/kafka/local_kafka.py start --data-dir .run/kafka-cluster --port 9192 --brokers 3

Starting twice reuses the running broker; starting after a crash reuses the formatted storage.
Topics are never auto-created (``auto.create.topics.enable=false``): the project creates them itself.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBS_DIR = HERE / ".cache" / "libs"
KAFKA_JAR_GLOB = "kafka_2.13-*.jar"
ADMIN_USER = "admin"

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
"""


def fetch_jars() -> Path:
    """Resolve the broker and Log4j 2 jars from Maven Central (via ~/.m2) into deploy/kafka/.cache/libs."""
    if list(LIBS_DIR.glob(KAFKA_JAR_GLOB)):
        return LIBS_DIR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is required to fetch the Kafka jars; install it (apt-get install maven)")
    tmp_dir = LIBS_DIR.with_name("libs.partial")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={tmp_dir}", "-DincludeScope=runtime"],
        check=True,
    )
    # Rename last, so an interrupted fetch is never mistaken for a complete one.
    shutil.rmtree(LIBS_DIR, ignore_errors=True)
    tmp_dir.rename(LIBS_DIR)
    return LIBS_DIR


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LocalKafka:
    """One broker's data directory, ports and process."""

    data_dir: Path
    port: int = 9092
    controller_port: int = 0
    # Secure mode: clients authenticate with SASL/SCRAM-SHA-256 and are authorised by ACLs (deny by default).
    # ``admin_password`` is the super user's; other users and their ACLs come from deploy/kafka/security.py.
    admin_password: str | None = None
    # Cluster membership (``LocalKafkaCluster`` sets these): this node's id, the static controller quorum
    # ("1@127.0.0.1:9093,2@…"; empty: a standalone quorum of this node alone), the cluster id its storage is
    # formatted with (empty: a new one), and the replication every topic gets by default.
    node_id: int = 1
    quorum_voters: str = ""
    cluster_id: str = ""
    replication_factor: int = 1
    min_insync_replicas: int = 1
    # The address the client listener binds and advertises (the controller listener stays on loopback): another
    # local address lets clients in a network namespace reach the broker (faults/netns.py).
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        if not self.controller_port:
            self.controller_port = self.port + 1

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def secure(self) -> bool:
        return self.admin_password is not None

    def _listener_properties(self) -> list[str]:
        if not self.secure:
            return [
                f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ]
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN_USER}" '
                f'password="{self.admin_password}";')
        return [
            f"listeners=SASL_PLAINTEXT://{self.host}:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_PLAINTEXT://{self.host}:{self.port}",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-256",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256",
            f"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={jaas}",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The controller listener is loopback-only plaintext; its requests come as ANONYMOUS.
            f"super.users=User:{ADMIN_USER};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found=false",
        ]

    def client_options(self, username: str = "", password: str = "") -> dict[str, str]:
        """kafka-python options to connect: nothing in plaintext mode, SASL/SCRAM in secure mode."""
        if not self.secure:
            return {}
        return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
                "sasl_plain_username": username or ADMIN_USER,
                "sasl_plain_password": password or str(self.admin_password)}

    def _properties(self) -> str:
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={self.node_id}",
            *self._listener_properties(),
            "controller.listener.names=CONTROLLER",
            (f"controller.quorum.voters={self.quorum_voters}" if self.quorum_voters
             else f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}"),
            f"log.dirs={self.data_dir / 'logs'}",
            # The project declares and creates every topic; a typo must fail, not invent a topic.
            "auto.create.topics.enable=false",
            "num.partitions=1",
            # Topics created without an explicit replication factor (the project's: services/common/kafka_admin.py)
            # get the cluster's; a write acknowledged with acks=all is then on min.insync.replicas nodes.
            f"default.replication.factor={self.replication_factor}",
            f"min.insync.replicas={self.min_insync_replicas}",
            # A replica that was not in sync never becomes leader: that would silently drop acknowledged writes.
            "unclean.leader.election.enable=false",
            f"offsets.topic.replication.factor={self.replication_factor}",
            "offsets.topic.num.partitions=6",
            f"transaction.state.log.replication.factor={self.replication_factor}",
            f"transaction.state.log.min.isr={self.min_insync_replicas}",
            f"share.coordinator.state.topic.replication.factor={self.replication_factor}",
            f"share.coordinator.state.topic.min.isr={self.min_insync_replicas}",
            # No reason to wait for more members before the first rebalance (tests start their workers at once).
            "group.initial.rebalance.delay.ms=0",
            # A cluster node that dies is fenced, and its partitions led by another, after 4 s without a heartbeat
            # (Kafka's default is 9 s; on loopback a heartbeat is never late for network reasons).
            *(["broker.session.timeout.ms=4000", "broker.heartbeat.interval.ms=1000"] if self.quorum_voters else []),
            "log.retention.hours=-1",
            "",
        ])

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            "java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp", f"{fetch_jars()}/*", main_class, *args,
        ]

    def running_pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
        except ValueError:
            return None
        return pid if _pid_alive(pid) else None

    def write_config(self) -> Path:
        config = self.data_dir / "server.properties"
        config.write_text(self._properties())
        (self.data_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(log_file=self.log_file))
        return config

    def format_storage(self, cluster_id: str) -> subprocess.CompletedProcess[str]:
        """Run StorageTool format once with this cluster id (the broker's config must be written)."""
        scram = ([f"--add-scram=SCRAM-SHA-256=[name={ADMIN_USER},password={self.admin_password}]"]
                 if self.secure else [])
        return subprocess.run(format_storage_command(self._java, cluster_id, self.data_dir / "server.properties",
                                                     scram, standalone=not self.quorum_voters),
                              capture_output=True, text=True)

    def start(self, timeout_seconds: float = 90.0) -> LocalKafka:
        """Format storage if new, start the broker unless already running, and wait until it serves."""
        launched = self.launch()
        if launched is not None:
            self.wait_started(*launched, timeout_seconds=timeout_seconds)
        return self

    def launch(self) -> tuple[subprocess.Popen[bytes], int] | None:
        """Format storage if new and start the broker process without waiting (None: it is already running).

        A cluster node cannot finish starting alone (it waits for a quorum): ``LocalKafkaCluster`` launches every
        node, then waits for each (``wait_started``).
        """
        fetch_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.running_pid() is not None and _port_open(self.port, self.host):
            return None
        config = self.write_config()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            for attempt in (1, 2):  # a JVM that fails to start on a busy machine gets one more try
                result = self.format_storage(self.cluster_id or new_cluster_id())
                if result.returncode == 0:
                    break
                if attempt == 2:
                    raise RuntimeError(f"formatting Kafka storage failed ({result.returncode}): "
                                       f"{(result.stderr or result.stdout)[-2000:]}")
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.data_dir / "broker.stdout", "ab") as out:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(config)),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_raise_open_files_limit,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc, log_offset

    def wait_started(self, proc: subprocess.Popen[bytes], log_offset: int, timeout_seconds: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"Kafka exited with {proc.returncode}; see {self.log_file}")
            if _port_open(self.port, self.host) and self._log_says_started(log_offset):
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"Kafka did not start within {timeout_seconds}s; see {self.log_file}")

    def _log_says_started(self, log_offset: int) -> bool:
        # Only what this start wrote counts: an earlier run's marker says nothing about this one.
        try:
            with open(self.log_file, "rb") as log:
                log.seek(log_offset)
                return b"Kafka Server started" in log.read()
        except FileNotFoundError:
            return False

    def stop(self, timeout_seconds: float = 30.0, kill: bool = False) -> None:
        """Stop the broker: SIGTERM and wait (or SIGKILL at once with ``kill``)."""
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_seconds
        while _pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)


@dataclass
class LocalKafkaCluster:
    """Three (``size``) combined broker+controller nodes with one cluster id and a controller quorum of all of them,
    each with its own data directory (``<data_dir>/node-<id>``) and ports; replication factor ``size`` and
    ``min.insync.replicas`` ``size - 1`` for every topic, unclean leader election off.

    ``ports`` and ``controller_ports``: each node's client and controller port; free ports when not given.
    ``host``: the address the client listeners bind and advertise.
    """

    data_dir: Path
    size: int = 3
    ports: list[int] = field(default_factory=list)
    controller_ports: list[int] = field(default_factory=list)
    host: str = "127.0.0.1"
    nodes: list[LocalKafka] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.ports = self.ports or [free_port() for _ in range(self.size)]
        controller_ports = self.controller_ports = self.controller_ports or [free_port() for _ in range(self.size)]
        voters = ",".join(f"{i}@127.0.0.1:{cport}" for i, cport in enumerate(controller_ports, start=1))
        cluster_id = self._formatted_cluster_id() or new_cluster_id()
        self.nodes = [LocalKafka(self.data_dir / f"node-{i}", port=port, controller_port=cport, node_id=i,
                                 quorum_voters=voters, cluster_id=cluster_id, replication_factor=self.size,
                                 min_insync_replicas=max(1, self.size - 1), host=self.host)
                      for i, (port, cport) in enumerate(zip(self.ports, controller_ports, strict=True), start=1)]

    def _formatted_cluster_id(self) -> str:
        for i in range(1, self.size + 1):
            meta = self.data_dir / f"node-{i}" / "logs" / "meta.properties"
            if meta.exists():
                for line in meta.read_text().splitlines():
                    if line.startswith("cluster.id="):
                        return line.split("=", 1)[1]
        return ""

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    @property
    def replication_factor(self) -> int:
        return self.size

    @property
    def min_insync_replicas(self) -> int:
        return max(1, self.size - 1)

    def node(self, node_id: int) -> LocalKafka:
        return self.nodes[node_id - 1]

    def start(self, timeout_seconds: float = 120.0) -> LocalKafkaCluster:
        """Launch every node not running (each waits for a quorum), then wait until each serves."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        launched = [(node, node.launch()) for node in self.nodes]
        for node, started in launched:
            if started is not None:
                node.wait_started(*started, timeout_seconds=timeout_seconds)
        return self

    def stop(self, timeout_seconds: float = 30.0, kill: bool = False) -> None:
        for node in self.nodes:
            node.stop(timeout_seconds, kill=kill)

    def running_pid(self) -> int | None:
        """Some node's pid while any runs (as ``LocalKafka.running_pid``)."""
        return next((pid for pid in (node.running_pid() for node in self.nodes) if pid is not None), None)


def new_cluster_id() -> str:
    """A cluster id as Kafka's ``Uuid.randomUuid`` makes one: 16 random bytes, urlsafe base64 without padding, never
    beginning with ``-`` (Kafka redraws those: a leading ``-`` reads as an option on a command line) and never one of
    the reserved ids (all-zero bytes, or only the last bit set)."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not text.startswith("-") and int.from_bytes(raw, "big") > 1:
            return text


def format_storage_command(java: Callable[..., list[str]], cluster_id: str, config: Path,
                           extra: list[str], standalone: bool = True) -> list[str]:
    """StorageTool's command line. Every value is joined to its option (``--cluster-id=…``), so no value can be read
    as an option whatever it begins with — the cluster id and the SCRAM credential are generated or chosen by users.

    ``standalone``: a quorum of this node alone; otherwise the quorum is the config's static
    ``controller.quorum.voters`` (every node of a cluster formatted with the same cluster id).
    """
    return java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={config}",
                *(["--standalone"] if standalone else []), *extra)


def _raise_open_files_limit() -> None:
    """Each partition keeps a few files open; a broker holding thousands of topics outgrows a low soft limit.

    Only the soft limit is raised (to the hard one): raising the hard limit needs a capability containers often lack.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _reap(pid: int) -> None:
    # A broker started by another process is not our child: nothing to reap then.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--data-dir", default=".run/kafka")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--brokers", type=int, default=1, choices=[1, 3],
                        help="1: a single node; 3: a cluster on ports PORT, PORT+2, PORT+4 (controllers one above)")
    args = parser.parse_args(argv)
    broker: LocalKafka | LocalKafkaCluster = (
        LocalKafka(Path(args.data_dir), port=args.port) if args.brokers == 1
        else LocalKafkaCluster(Path(args.data_dir), size=args.brokers,
                               ports=[args.port + 2 * i for i in range(args.brokers)],
                               controller_ports=[args.port + 2 * i + 1 for i in range(args.brokers)]))
    if args.command == "fetch":
        print(fetch_jars())
    elif args.command == "start":
        broker.start()
        print(f"kafka serving on {broker.bootstrap_servers} (data in {broker.data_dir})")
    elif args.command == "stop":
        broker.stop()
    else:
        pid = broker.running_pid()
        print(f"running, pid {pid}" if pid else "stopped")
        return 0 if pid else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
