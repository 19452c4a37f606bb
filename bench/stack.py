"""The benchmark's own broker and processes: a Stack in a temporary directory, always stopped at the end."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from deploy.kafka.local_kafka import free_port
from deploy.local_stack import ManagedProcess, Stack, http_ok
from services.common.kafka_admin import body_topics, ensure_topics
from services.reference.loader import load_reference_data


@dataclass
class BenchStack(Stack):
    """A Stack whose processes also get ``extra_env`` (e.g. the patrol's rate limits), on its own broker."""

    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra_env}

    def start_dispatch_logged(self, name: str, loglevel: str = "INFO", env: dict[str, str] | None = None,
                              state_dir: str = "") -> ManagedProcess:
        """A dispatch worker with an explicit ``--loglevel``; its state directory is its own (a new name starts
        without local state) unless ``state_dir`` names one (a restart of an earlier worker)."""
        port = free_port()
        state = {"LIANDONG_DISPATCH_STATE_DIR": str(self.run_dir / "dispatch-state" / (state_dir or name))}
        return self.start_command(name, [sys.executable, "-m", "services.dispatch", "--web-port", str(port),
                                         "--loglevel", loglevel],
                                  http_ok(f"http://127.0.0.1:{port}/metrics"), timeout_seconds=600,
                                  env={**state, **(env or {})})

    def stop_processes(self) -> None:
        """Stop every service process, keep the broker."""
        for managed in reversed(list(self.processes.values())):
            managed.stop()
        self.processes.clear()

    def ensure_referral_topics(self, prefix: str) -> None:
        """Every receiving body's topic, as a deployment has them (dispatch also creates them at start since it
        learnt to; done here too so the passthrough runs see the same broker as the dispatch runs)."""
        extra = body_topics(sorted({body.body_id for body in load_reference_data().bodies()}), prefix)
        ensure_topics(self.bootstrap_servers, prefix, extra=extra, timeout_seconds=120)


def temporary_stack(keep: bool = False) -> BenchStack:
    run_dir = Path(tempfile.mkdtemp(prefix="liandong-bench-"))
    stack = BenchStack(run_dir, inherit_settings=False, extra_env={})
    stack.keep = keep  # type: ignore[attr-defined]
    return stack


def remove(stack: BenchStack) -> None:
    """Stop every process and the broker, then delete the directory (unless asked to keep it)."""
    try:
        stack.stop()
    finally:
        if not getattr(stack, "keep", False):
            shutil.rmtree(stack.run_dir, ignore_errors=True)
