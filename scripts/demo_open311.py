"""`make run`'s Open311 side: the hotline system's demo API key, and one request an Open311 client can file with it.

Open311 clients (the API hotline and patrol systems already speak) authenticate with an ``api_key``, not a bearer
token, so without a key configured they can read services but every POST is refused ``403 invalid api_key``.
"""

from __future__ import annotations

import random
import secrets
import shlex
from datetime import UTC, datetime

from services.reference.geography import random_point_in_county
from services.reference.loader import ReferenceData, load_reference_data

HOTLINE_PRINCIPAL = "hotline-12345"  # the 12345 citizen service hotline files for every township of the city


def new_demo_key() -> str:
    """32 hex characters: long enough for patrol (16 at least), no `=`/`;`/`:` and no leading `-` on a command line."""
    return "demo" + secrets.token_hex(14)


def api_keys_with_demo(configured: str, demo_key: str) -> str:
    """LIANDONG_API_KEYS as set by the operator (kept), plus the demo hotline key for every township."""
    demo = f"{demo_key}={HOTLINE_PRINCIPAL}:*"
    return f"{configured.rstrip(';')};{demo}" if configured.strip() else demo


def open311_base(patrol_port: int) -> str:
    return f"http://127.0.0.1:{patrol_port}/open311/v2"


def example_request(township_code: str, reference: ReferenceData | None = None) -> dict[str, str]:
    """POST requests.json form fields this township accepts: a category on its list, a point in its county."""
    reference = reference or load_reference_data()
    township = reference.townships[township_code]
    category = sorted(reference.categories_for_township(township_code, datetime.now(UTC)))[0]
    latitude, longitude = random_point_in_county(township.county_code, random.Random(2))
    return {"jurisdiction_id": township_code, "service_code": category, "lat": f"{latitude:.6f}",
            "long": f"{longitude:.6f}", "description": "市民來電反映疑似違法行為",
            "attribute[client_report_id]": "demo-open311-1"}


def open311_text(patrol_port: int, demo_key: str, township_code: str) -> str:
    base = open311_base(patrol_port)
    fields = " ".join(f"--data-urlencode {shlex.quote(f'{name}={value}')}"
                      for name, value in example_request(township_code).items())
    return f"""
Open311 GeoReport v2 (hotline system, demo API key for every township; jurisdiction_id = township code):
  base  {base}   (services: {base}/services.json?jurisdiction_id={township_code})
  export API_KEY={demo_key}
  curl -X POST {base}/requests.json --data-urlencode "api_key=$API_KEY" \\
    {fields}
  then follow it: curl '{base}/requests/<service_request_id>.json?extensions=true'
"""
