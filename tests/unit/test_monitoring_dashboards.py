"""Grafana dashboards: the committed JSON is what the code generates, laid out sanely, provisioned where mounted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from deploy.grafana.build_dashboards import DASHBOARDS_DIR, dashboards, render

GRAFANA_DIR = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


def committed() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in DASHBOARDS_DIR.glob("*.json")}


def test_committed_dashboards_are_current() -> None:
    wanted = {name: render(dashboard) for name, dashboard in dashboards().items()}
    found = {path.name: path.read_text(encoding="utf-8") for path in DASHBOARDS_DIR.glob("*.json")}
    assert found == wanted, "the committed JSON drifted from deploy/grafana: run `make dashboards` and commit it"


def test_panels_have_unique_ids_fit_the_grid_and_do_not_overlap() -> None:
    for name, dashboard in committed().items():
        panels = dashboard["panels"]
        assert len({p["id"] for p in panels}) == len(panels), name
        taken: set[tuple[int, int]] = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, (name, panel["title"])
            cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                     for y in range(grid["y"], grid["y"] + grid["h"])}
            assert not cells & taken, f"{name}: {panel['title']} overlaps another panel"
            taken |= cells


def test_every_query_names_the_datasource_variable() -> None:
    for name, dashboard in committed().items():
        for panel in (p for p in dashboard["panels"] if p["type"] != "row"):
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert target["expr"].strip() and target["refId"], (name, panel["title"])


def test_enforcement_dashboard_has_county_and_team_variables() -> None:
    variables = {v["name"]: v for v in committed()["enforcement.json"]["templating"]["list"]}
    assert variables["county"]["type"] == "custom" and variables["county"]["allValue"] == ".*"
    assert "振兴区 210603 : 210603" in variables["county"]["query"]
    assert variables["team"]["type"] == "query" and "$county" in variables["team"]["query"]
    assert variables["team"]["allValue"] == ".*" and variables["team"]["multi"]
    exprs = [t["expr"] for p in committed()["enforcement.json"]["panels"] for t in p.get("targets", [])]
    assert sum("$county" in e or "${county}" in e for e in exprs) >= 10
    assert sum("$team" in e for e in exprs) >= 8


def test_provisioning_points_at_the_compose_mounts() -> None:
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning/datasources/prometheus.yaml").read_text())
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((GRAFANA_DIR / "provisioning/dashboards/dashboards.yaml").read_text())["providers"]
    compose = yaml.safe_load((GRAFANA_DIR.parent / "docker-compose.yml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == providers[0]["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_every_panel_has_its_question_in_the_operations_doc() -> None:
    doc = (GRAFANA_DIR.parents[1] / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = {(m.group(1), m.group(2)) for m in re.finditer(r"^\| (operations|enforcement) \| (.+?) \| .+ \|$", doc,
                                                           re.MULTILINE)}
    panels = {(dashboard.uid.removeprefix("liandong-"), panel.title) for dashboard in dashboards().values()
              for row in dashboard.rows for panel in row.panels}
    assert panels - rows == set(), "panels without a question in docs/operations.md"
    assert rows - panels == set(), "docs/operations.md names panels that no longer exist"
