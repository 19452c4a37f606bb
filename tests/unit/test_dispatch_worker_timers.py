"""The worker's timers leave the tables alone while partitions are read back (they are half loaded then)."""

from __future__ import annotations

import asyncio

import pytest

from services.dispatch.entrypoints.worker import DispatchWorker
from services.dispatch.settings import DispatchSettings
from services.dispatch.wiring import build_worker
from services.reference.loader import load_reference_data


class Touched(Exception):
    pass


def _worker(monkeypatch: pytest.MonkeyPatch) -> DispatchWorker:
    worker = build_worker(DispatchSettings(bootstrap_servers="127.0.0.1:1"), load_reference_data())

    def touch(*_args: object) -> None:
        raise Touched

    monkeypatch.setattr(worker.dispatcher, "due_checks", touch)
    monkeypatch.setattr("services.dispatch.entrypoints.observe.refresh_gauges", touch)
    return worker


def test_timers_skip_their_turn_during_a_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = _worker(monkeypatch)
    worker.restoring = True
    asyncio.run(worker._ask_checks())
    asyncio.run(worker._gauges())


def test_timers_read_the_tables_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = _worker(monkeypatch)
    with pytest.raises(Touched):
        asyncio.run(worker._ask_checks())
    with pytest.raises(Touched):
        asyncio.run(worker._gauges())
