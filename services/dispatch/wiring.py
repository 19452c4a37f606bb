"""The one place that builds dispatch's processes from settings: the consume-loop worker and the work-order relay."""

from __future__ import annotations

from services.dispatch.entrypoints.relay import Relay, RelaySettings
from services.dispatch.entrypoints.worker import DispatchWorker
from services.dispatch.settings import DispatchSettings
from services.reference.loader import ReferenceData


def build_worker(settings: DispatchSettings, reference: ReferenceData | None = None) -> DispatchWorker:
    return DispatchWorker(settings, reference)


def build_relay(settings: RelaySettings) -> Relay:
    return Relay(settings)
