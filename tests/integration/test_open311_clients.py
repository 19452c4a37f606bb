"""Existing Open311 GeoReport v2 clients from PyPI, used unchanged against the running stack with `make run`'s demo
hotline key: they file a request, read it back and follow it until the case register has routed it (issue 13).

- ``civicbot`` (0.4.0): a full client (services, definitions, POST requests, tokens, requests), stdlib HTTP only.
- ``georeport`` (0.3.1): a read client (services, definitions, requests); it has no POST, so it follows the
  request civicbot filed.
- and the curl example `make run` prints, run as printed.

Other GeoReport packages on PyPI were tried and left out: ``three`` 0.8 and ``open311`` 1.1 are Python 2 code
(``itertools.ifilter``, an implicit relative import) and do not import on Python 3.11.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
from civicbot.open311 import CONFIRM_TOKEN, Open311Client
from civicbot.registry import Endpoint
from georeport import GeoReport

from deploy.local_stack import Stack
from scripts import demo_open311
from services.common.polling import poll_until
from tests.stack_fixtures import StackFactory

pytestmark = pytest.mark.integration

TOWNSHIP = "210681110"  # a township of Donggang, as make run prints it


def registered(read: Any) -> Any:
    """Polls ``read()`` until the request has left "awaiting registration" (dispatch routed it, info-share has it)."""
    def check() -> Any:
        request = read()
        return request if request and "awaiting registration" not in (request.get("status_notes") or "") else None
    return poll_until(check, 60, 0.5, "the request registered and routed")


@pytest.fixture
def demo_key() -> str:
    return demo_open311.new_demo_key()


@pytest.fixture
def stack(make_stack: StackFactory, demo_key: str) -> Stack:
    stack = make_stack(api_keys=demo_open311.api_keys_with_demo("", demo_key))
    stack.start_all()
    return stack


def test_open311_clients_file_read_and_follow_with_the_demo_key(stack: Stack, demo_key: str) -> None:
    base = demo_open311.open311_base(stack.patrol_port)
    example = demo_open311.example_request(TOWNSHIP)
    endpoint = Endpoint(id="liandong-demo", name="liandong patrol (demo)", base_url=base, write=True)
    civic = Open311Client(endpoint, jurisdiction_id=TOWNSHIP)

    services = civic.list_services()
    assert example["service_code"] in {s["service_code"] for s in services}
    definition = civic.get_service_definition(example["service_code"])
    assert definition["service_code"] == example["service_code"]
    # validate_remote: the client checks its form against our service list and definition before it sends.
    filed = civic.create_request(example["service_code"], dry_run=False, confirm=CONFIRM_TOKEN, api_key=demo_key,
                                 validate_remote=True, lat=float(example["lat"]), lng=float(example["long"]),
                                 description=example["description"],
                                 attributes={"client_report_id": "civicbot-1"})
    [answer] = filed.response
    request_id = answer["service_request_id"]
    assert answer["token"] == request_id and request_id
    assert civic.get_token(answer["token"]) == [{"service_request_id": request_id, "token": request_id}]

    followed = registered(lambda: civic.get_request(request_id))
    assert followed["status"] == "open" and followed["agency_responsible"]
    assert followed["service_code"] == example["service_code"]
    assert request_id in {r["service_request_id"] for r in civic.list_requests(service_request_ids=[request_id])}

    reader = GeoReport(base, jurisdiction=TOWNSHIP, api_key=demo_key)
    assert example["service_code"] in {s["service_code"] for s in reader.get_service_list()}
    assert reader.get_service_definition(example["service_code"])["service_code"] == example["service_code"]
    seen = reader.get_service_request(request_id)
    assert seen["service_request_id"] == request_id and seen["agency_responsible"] == followed["agency_responsible"]
    assert [r["service_request_id"] for r in reader.get_service_requests(service_request_id=request_id)] == [
        request_id]
    xml_reader = GeoReport(base, jurisdiction=TOWNSHIP, output_format="xml")
    assert xml_reader.get_service_request(request_id)["service_request_id"] == request_id

    # On the same stack: starting one takes most of this test's time.
    the_printed_open311_example_works_as_printed(stack, demo_key)


def the_printed_open311_example_works_as_printed(stack: Stack, demo_key: str) -> None:
    text = demo_open311.open311_text(stack.patrol_port, demo_key, TOWNSHIP)
    post = re.search(r"^\s*(curl -X POST .*?)(?<!\\)\n", text, re.MULTILINE | re.DOTALL)
    assert post is not None, text
    export = re.search(r"export API_KEY=(\S+)", text)
    assert export is not None and export.group(1) == demo_key
    script = f"export API_KEY={export.group(1)}\n{post.group(1)} --silent --fail-with-body"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    [answer] = json.loads(done.stdout)
    assert answer["service_request_id"]
    follow = text.split("then follow it: ")[1].split("\n")[0].replace("<service_request_id>",
                                                                       answer["service_request_id"])
    request = registered(lambda: json.loads(subprocess.run(["bash", "-c", f"{follow} --silent"], capture_output=True,
                                                           text=True, timeout=30, check=True).stdout)[0])
    assert request["extended_attributes"]["township_code"] == TOWNSHIP
