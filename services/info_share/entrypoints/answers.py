"""API answers for one caller: the audience of each case decides which fields appear and what is masked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from schemas.events import FeedEntry
from services.common.principal import Principal
from services.common.privacy import PiiKind
from services.info_share import metrics
from services.info_share.adapters.queries import CaseBundle
from services.info_share.adapters.register.tables import CaseRow, LedgerRow, ReportRow
from services.info_share.domain import views
from services.info_share.domain.audience import Audience, audience_for
from services.info_share.domain.evaluation import BodyFigures, TownshipFigures
from services.info_share.feed import feed_entry
from services.reference.loader import ReferenceData


class Tallies:
    """What one answer masked, by audience and kind; ``flush`` turns it into the masking metric."""

    def __init__(self) -> None:
        self.by_audience: dict[Audience, Counter[PiiKind]] = {audience: Counter() for audience in Audience}

    def renderer(self, audience: Audience, known: tuple[tuple[PiiKind, str], ...] = ()) -> views.Renderer:
        return views.Renderer(audience, known, self.by_audience[audience])

    def flush(self) -> None:
        for audience, counts in self.by_audience.items():
            for kind, n in counts.items():
                metrics.MASKED.labels(kind.value, audience.value).inc(n)
            counts.clear()


def feed_entries(rows: Sequence[LedgerRow], *, caller: Principal, parties: Mapping[str, set[str]],
                 reference: ReferenceData, tallies: Tallies) -> list[FeedEntry]:
    return [feed_entry(row, reference, tallies.renderer(audience_for(caller, parties.get(row.case_id, set()))))
            for row in rows]


def case_detail(bundle: CaseBundle, *, caller: Principal, tallies: Tallies) -> dict[str, Any]:
    audience = audience_for(caller, bundle.party_ids)
    render = tallies.renderer(audience, _known(bundle.reports)).render
    answer = render(views.CASE, bundle.case)
    answer["audience"] = audience.value
    answer["parties"] = [render(views.PARTY, p) for p in bundle.parties]
    answer["reports"] = [render(views.REPORT, r) for r in bundle.reports]
    answer["referrals"] = [render(views.REFERRAL, r) for r in bundle.referrals]
    answer["matters"] = [render(views.MATTER, m) for m in
                         views.matters(bundle.case.lead_body_id, (r.category_code for r in bundle.reports))]
    answer["related_cases"] = [render(views.RELATED, c) for c in bundle.related]
    answer["timeline"] = [render(views.TIMELINE, views.timeline_facts(e.sequence, e.event, e.occurred_at, e.body_id,
                                                                       e.status, e.payload))
                          for e in bundle.timeline]
    return answer


def case_items(cases: Iterable[CaseRow], *, caller: Principal, parties: Mapping[str, set[str]],
               reports: Mapping[str, list[ReportRow]], tallies: Tallies,
               distances: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """A case per item, with the opening report's description for enforcement bodies (masked unless a party)."""
    items = []
    for case in cases:
        audience = audience_for(caller, parties.get(case.case_id, set()))
        case_reports = reports.get(case.case_id, [])
        renderer = tallies.renderer(audience, _known(case_reports))
        item = renderer.render(views.CASE, case)
        item["audience"] = audience.value
        if audience is not Audience.PUBLIC and case_reports:
            item["description"] = renderer.text(case_reports[0].description)
        if distances is not None:
            item["distance_m"] = round(distances[case.case_id], 1)
        items.append(item)
    return items


def evaluation_answer(bodies: list[BodyFigures], townships: list[TownshipFigures], *, reference: ReferenceData,
                      kind: str | None) -> dict[str, Any]:
    body_items = []
    for figures in bodies:
        try:
            body = reference.body(figures.body_id)
            described = {"name": body.name, "kind": body.kind.value, "county_code": body.county_code,
                         "township_code": body.township_code}
        except KeyError:
            described = {"name": figures.body_id, "kind": "unknown", "county_code": None, "township_code": None}
        if kind is None or described["kind"] == kind:
            body_items.append({**asdict(figures), **described})
    township_items = []
    for t in townships:
        township = reference.townships.get(t.township_code)
        # 雙重管理: the township's opinion on the dispatched agencies working in it rests on these figures.
        agencies = [item for item in body_items
                    if item["kind"] == "dispatched_agency" and item["township_code"] == t.township_code]
        township_items.append({**asdict(t), "name": township.name if township else t.township_code,
                               "dispatched_agencies": agencies})
    return {"bodies": body_items, "townships": township_items}


def _known(reports: Iterable[ReportRow]) -> tuple[tuple[PiiKind, str], ...]:
    reports = list(reports)
    return views.known_values((r.reporter for r in reports), (s for r in reports for s in r.subjects))
