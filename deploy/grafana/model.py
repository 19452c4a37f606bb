"""liandong's dashboards as declarations — queries that know whether a running stack must answer them, panels in
rows — turned into Grafana dashboards by grafana-foundation-sdk's typed builders (``Dashboard.build``).

The declarations stay plain data because the monitoring tests read them: each query says whether it must return
data in a run (and why not, when it may be empty), which Grafana's own model has no place for. Layout, panel options
and the JSON form are the SDK's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from grafana_foundation_sdk.builders import bargauge, common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models
from grafana_foundation_sdk.models import prometheus as prometheus_models

DATASOURCE = dashboard_models.DataSourceRef(type_val="prometheus", uid="${datasource}")

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

    def build(self) -> dashboard.Dashboard:
        """The SDK's dashboard builder, rows and panels in order (the SDK lays them out on the 24-column grid)."""
        builder = (dashboard.Dashboard(self.title).uid(self.uid).description(self.description).tags(list(self.tags))
                   .refresh("30s").time("now-6h", "now").timezone("browser")
                   .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR).readonly()
                   .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")))
        for variable in self.variables:
            builder = builder.with_variable(_variable(variable))
        panel_id = 0
        for row in self.rows:
            panel_id += 1
            builder = builder.with_row(dashboard.Row(row.title).id(panel_id))
            for panel in row.panels:
                panel_id += 1
                builder = builder.with_panel(_panel(panel).id(panel_id))
        return builder

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = json.loads(json.dumps(self.build().build(), cls=JSONEncoder))
        return encoded


def _target(query: Query, index: int, kind: PanelKind) -> prometheus.Dataquery:
    target = (prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(chr(ord("A") + index))
              .datasource(DATASOURCE))
    if kind == "table":  # one row per series: the "merge" transformation joins the instant frames on their labels
        return target.instant().format(prometheus_models.PromQueryFormat.TABLE)
    return target.instant() if kind in ("stat", "bargauge") else target.range()


def _last_value() -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _panel(panel: Panel) -> Any:
    builder: Any
    if panel.kind == "timeseries":
        builder = (timeseries.Panel()
                   .legend(common.VizLegendOptions().display_mode(common_models.LegendDisplayMode.TABLE)
                           .placement(common_models.LegendPlacement.RIGHT).show_legend(True)
                           .calcs(["lastNotNull", "max"]))
                   .tooltip(common.VizTooltipOptions().mode(common_models.TooltipDisplayMode.MULTI)
                            .sort(common_models.SortOrder.DESCENDING)))
    elif panel.kind == "stat":
        builder = (stat.Panel().reduce_options(_last_value()).color_mode(common_models.BigValueColorMode.VALUE)
                   .graph_mode(common_models.BigValueGraphMode.NONE).text_mode(common_models.BigValueTextMode.AUTO))
    elif panel.kind == "bargauge":
        builder = (bargauge.Panel().reduce_options(_last_value()).orientation(common_models.VizOrientation.HORIZONTAL)
                   .display_mode(common_models.BarGaugeDisplayMode.BASIC).show_unfilled(True))
    else:
        builder = (table.Panel().show_header(True).cell_height(common_models.TableCellHeight.SM)
                   .with_transformation(dashboard_models.DataTransformerConfig(id_val="merge", options={}))
                   .with_transformation(dashboard_models.DataTransformerConfig(
                       id_val="organize", options={"excludeByName": {"Time": True}})))
    builder = (builder.title(panel.title).description(panel.description).datasource(DATASOURCE).unit(panel.unit)
               .span(panel.width).height(panel.height))
    for index, query in enumerate(panel.queries):
        builder = builder.with_target(_target(query, index, panel.kind))
    return builder


def _variable(variable: Variable) -> Any:
    if variable.kind == "custom":
        return (dashboard.CustomVariable(variable.name).label(variable.label).values(variable.query).multi(True)
                .include_all(True).all_value(".*").current(_all_selected()))
    return (dashboard.QueryVariable(variable.name).label(variable.label).datasource(DATASOURCE).query(variable.query)
            .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True).all_value(".*")
            .current(_all_selected()))


def _all_selected() -> dashboard_models.VariableOption:
    return dashboard_models.VariableOption(selected=True, text=["All"], value=["$__all"])
