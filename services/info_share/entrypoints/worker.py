"""Faust worker: decode a case event, apply it to the register, publish the public feed entry.

python -m services.info_share.entrypoints.worker [--web-port P]; built by ``wiring.create_worker``.

Failure policy, per event, as every projection's (services.common.faust_app.add_projection): undecodable or not
applicable to the register (unknown case, contradiction) → dead-letter topic, the register unchanged and the stream
going on; the database unavailable or locked → retried with backoff until it is back (the lag gauge shows it);
anything else → the process exits before the event is acknowledged, so after a restart it is read again.
"""

from __future__ import annotations

from services.common.faust_app import run_worker
from services.info_share.settings import InfoShareSettings
from services.info_share.wiring import create_worker


def main() -> None:
    run_worker(create_worker, InfoShareSettings)


if __name__ == "__main__":
    main()
