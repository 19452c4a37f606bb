"""schemas/asyncapi.yaml is a valid AsyncAPI 3.0 document according to the official parser (@asyncapi/parser)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from schemas import export

VALIDATOR = Path(__file__).parent / "asyncapi_validator"


@pytest.fixture(scope="module")
def validator() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are needed to validate the AsyncAPI document")
    if not (VALIDATOR / "node_modules" / "@asyncapi" / "parser").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=VALIDATOR, check=True,
                       timeout=600)
    return VALIDATOR / "validate.mjs"


def _validate(validator: Path, document: Path) -> tuple[int, dict]:
    result = subprocess.run(["node", str(validator), str(document)], capture_output=True, text=True, timeout=120)
    return result.returncode, json.loads(result.stdout or "{}")


def test_asyncapi_document_validates(validator: Path) -> None:
    code, report = _validate(validator, export.ASYNCAPI_PATH)
    assert code == 0, report
    assert report["version"] == "3.0.0"
    assert "liandong.findings" in report["channels"]
    assert "liandong.referrals.{bodyId}" in report["channels"]


def test_validator_rejects_a_broken_document(validator: Path, tmp_path: Path) -> None:
    # The check must be able to fail: an operation pointing at a channel that does not exist.
    broken = export.asyncapi_document()
    broken["operations"]["publishFinding"]["channel"] = {"$ref": "#/channels/nowhere"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    code, report = _validate(validator, path)
    assert code != 0 and report["errors"], report
