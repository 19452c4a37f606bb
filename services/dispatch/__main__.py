"""Run a dispatch worker: python -m services.dispatch [--web-port P]; several form one consumer group."""

from services.common.faust_app import run_worker
from services.dispatch.agents import create_worker
from services.dispatch.settings import DispatchSettings

if __name__ == "__main__":
    run_worker(create_worker, DispatchSettings)
