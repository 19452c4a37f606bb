"""A small model of Grafana dashboards: queries that know whether a running stack must answer them, laid out panels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24

# "data": with findings flowing (some refused, one unreadable event), the query must return series.
# "may_be_empty": an empty answer is the healthy one, or the situation does not arise in a short run; ``why`` says.
Expect = Literal["data", "may_be_empty"]
PanelKind = Literal["timeseries", "stat", "table", "bargauge"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    expect: Expect = "data"
    why: str = ""

    def __post_init__(self) -> None:
        if self.expect == "may_be_empty" and not self.why:
            raise ValueError(f"say why {self.expr!r} may be empty")


@dataclass(frozen=True)
class Panel:
    title: str
    kind: PanelKind
    queries: tuple[Query, ...]
    description: str = ""
    unit: str = "short"
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    query: str  # PromQL label_values(...) for kind "query"; "text : value" pairs for kind "custom"
    kind: Literal["query", "custom"] = "query"
    options: tuple[tuple[str, str], ...] = ()  # (text, value), for kind "custom"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = field(default=("liandong",))

    def queries(self) -> list[tuple[str, Query]]:
        """Every (panel title, query), in layout order."""
        return [(panel.title, query) for row in self.rows for panel in row.panels for query in panel.queries]

    def to_json(self) -> dict[str, Any]:
        panels: list[dict[str, Any]] = []
        y = 0
        for row in self.rows:
            panels.append({"id": len(panels) + 1, "type": "row", "title": row.title, "collapsed": False,
                           "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}, "panels": []})
            y += 1
            x, line_height = 0, 0
            for panel in row.panels:
                if x + panel.width > GRID_WIDTH:
                    x, y, line_height = 0, y + line_height, 0
                panels.append(_panel_json(panel, len(panels) + 1, {"h": panel.height, "w": panel.width, "x": x,
                                                                    "y": y}))
                x += panel.width
                line_height = max(line_height, panel.height)
            y += line_height
        return {
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
                "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
            }]},
            "description": self.description,
            "editable": False,
            "graphTooltip": 1,
            "links": [],
            "panels": panels,
            "refresh": "30s",
            "schemaVersion": 39,
            "tags": list(self.tags),
            "templating": {"list": [_datasource_variable(), *(_variable_json(v) for v in self.variables)]},
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
        }


_OPTIONS: dict[str, dict[str, Any]] = {
    "timeseries": {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
                   "tooltip": {"mode": "multi", "sort": "desc"}},
    "stat": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
             "colorMode": "value", "graphMode": "none", "textMode": "auto"},
    "table": {"showHeader": True, "cellHeight": "sm"},
    "bargauge": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "orientation": "horizontal", "displayMode": "basic", "showUnfilled": True},
}


def _panel_json(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    instant = panel.kind in ("stat", "table", "bargauge")
    targets = [{
        "datasource": DATASOURCE, "refId": chr(ord("A") + i), "expr": query.expr, "legendFormat": query.legend,
        "range": not instant, "instant": instant, **({"format": "table"} if panel.kind == "table" else {}),
    } for i, query in enumerate(panel.queries)]
    options = _OPTIONS[panel.kind]
    result: dict[str, Any] = {
        "id": panel_id, "type": panel.kind, "title": panel.title, "description": panel.description,
        "datasource": DATASOURCE, "gridPos": grid, "targets": targets, "options": options,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
    }
    if panel.kind == "table":
        # One row per series: Grafana's "merge" joins the instant frames on their labels.
        result["transformations"] = [{"id": "merge", "options": {}},
                                     {"id": "organize", "options": {"excludeByName": {"Time": True}}}]
    return result


def _datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}


def _variable_json(variable: Variable) -> dict[str, Any]:
    common = {"name": variable.name, "label": variable.label, "hide": 0, "multi": True, "includeAll": True,
              "allValue": ".*", "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}
    if variable.kind == "custom":
        options = [{"selected": True, "text": "All", "value": "$__all"}]
        options += [{"selected": False, "text": text, "value": value} for text, value in variable.options]
        return {**common, "type": "custom", "query": variable.query, "options": options}
    return {**common, "type": "query", "datasource": DATASOURCE, "query": variable.query,
            "definition": variable.query, "refresh": 2, "regex": "", "sort": 1, "options": []}
