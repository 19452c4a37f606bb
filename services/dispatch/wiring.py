"""The one place that builds dispatch's processes from settings: the consume-loop worker and the work-order relay."""

from __future__ import annotations

from services.dispatch.entrypoints.relay import Relay, RelaySettings
from services.dispatch.entrypoints.worker import DispatchWorker, group_id, state_store
from services.dispatch.service import Dispatcher
from services.dispatch.settings import DispatchSettings
from services.reference.loader import ReferenceData, load_reference_data


def build_worker(settings: DispatchSettings, reference: ReferenceData | None = None) -> DispatchWorker:
    """A worker of the dispatch group: its tables (state store) and the Dispatcher deciding over them."""
    reference = reference or load_reference_data()
    store = state_store(settings, group_id(settings))
    dispatcher = Dispatcher(reference, store.tables,  # type: ignore[arg-type]  # tables are MutableMappings
                            policy=settings.deadline_policy(), retention=settings.retention())
    return DispatchWorker(settings, reference, store, dispatcher)


def build_relay(settings: RelaySettings) -> Relay:
    return Relay(settings)
