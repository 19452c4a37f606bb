"""A network namespace joined to this host by a veth pair, to cut or degrade one process's network alone.

The brokers bind and advertise the host end's address (``Stack(broker_host=...)``), so processes on the host and the
process inside the namespace reach them alike; only the namespace's traffic crosses the veth pair, where the faults
are injected: ``tc netem`` delay and loss where the kernel has it, else a token-bucket slow link (``tc tbf``: queueing
delay, tail drop); a full cut by pointing each end's neighbour entry at a MAC address nobody has, so frames are
silently dropped both ways (TCP sees timeouts, as in a real partition, not an immediate "unreachable").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass

NOWHERE_MAC = "02:00:00:00:de:ad"


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


@dataclass
class NetworkNamespace:
    name: str = "liandong-faults"
    host_if: str = "ldf-host"
    ns_if: str = "ldf-ns"
    host_ip: str = "10.231.0.1"
    ns_ip: str = "10.231.0.2"

    @staticmethod
    def available() -> str | None:
        """None when namespaces can be made here; else why not."""
        if os.geteuid() != 0:
            return "needs root"
        if shutil.which("ip") is None or shutil.which("tc") is None:
            return "needs iproute2 (ip, tc)"
        return None

    @classmethod
    def for_run(cls, run: int) -> NetworkNamespace:
        """Names and a /30 of this run's own (``run``: the process id), so that runs side by side do not clash."""
        slot = run % 16_000
        return cls(name=f"liandong-faults-{run}", host_if=f"ldf{slot}h", ns_if=f"ldf{slot}n",
                   host_ip=f"10.231.{slot // 64}.{(slot % 64) * 4 + 1}",
                   ns_ip=f"10.231.{slot // 64}.{(slot % 64) * 4 + 2}")

    def create(self) -> NetworkNamespace:
        self.delete()  # a leftover of an interrupted run
        steps = [
            ("ip", "netns", "add", self.name),
            ("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if),
            ("ip", "link", "set", self.ns_if, "netns", self.name),
            ("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if),
            ("ip", "link", "set", self.host_if, "up"),
            ("ip", "-n", self.name, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if),
            ("ip", "-n", self.name, "link", "set", self.ns_if, "up"),
            ("ip", "-n", self.name, "link", "set", "lo", "up"),
        ]
        for step in steps:
            _run(*step)
        return self

    def delete(self) -> None:
        _run("ip", "link", "del", self.host_if, check=False)
        _run("ip", "netns", "del", self.name, check=False)

    def command(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def _tc(self, side: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if side == "host":
            return _run("tc", "qdisc", *args[:1], "dev", self.host_if, *args[1:], check=check)
        return _run("ip", "netns", "exec", self.name, "tc", "qdisc", *args[:1], "dev", self.ns_if, *args[1:],
                    check=check)

    def netem_available(self) -> bool:
        probe = self._tc("host", "add", "root", "netem", "delay", "1ms", check=False)
        if probe.returncode == 0:
            self._tc("host", "del", "root", check=False)
        return probe.returncode == 0

    def degrade(self, delay_ms: int = 0, loss_percent: float = 0.0, rate: str = "") -> str:
        """Both directions: netem delay/loss where available, else a tbf slow link of ``rate``; says what it set."""
        self.clear()
        if self.netem_available() and (delay_ms or loss_percent):
            args = ["netem", *(["delay", f"{delay_ms}ms"] if delay_ms else []),
                    *(["loss", f"{loss_percent}%"] if loss_percent else [])]
            for side in ("host", "ns"):
                self._tc(side, "add", "root", *args)
            return "tc " + " ".join(args)
        args = ["tbf", "rate", rate or "2mbit", "burst", "16kb", "latency", f"{max(delay_ms, 200)}ms"]
        for side in ("host", "ns"):
            self._tc(side, "add", "root", *args)
        return "tc " + " ".join(args) + " (no sch_netem in this kernel: a slow link instead of delay/loss)"

    def cut(self) -> str:
        """Drop every frame both ways (each end's neighbour entry points at a MAC nobody has)."""
        _run("ip", "neigh", "replace", self.ns_ip, "lladdr", NOWHERE_MAC, "dev", self.host_if, "nud", "permanent")
        _run("ip", "-n", self.name, "neigh", "replace", self.host_ip, "lladdr", NOWHERE_MAC, "dev", self.ns_if,
             "nud", "permanent")
        return f"neighbour entries on both ends point at {NOWHERE_MAC}: every frame dropped"

    def clear(self) -> None:
        for side in ("host", "ns"):
            self._tc(side, "del", "root", check=False)
        with contextlib.suppress(subprocess.CalledProcessError):
            _run("ip", "neigh", "del", self.ns_ip, "dev", self.host_if, check=False)
            _run("ip", "-n", self.name, "neigh", "del", self.host_ip, "dev", self.ns_if, check=False)
