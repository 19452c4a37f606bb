"""Prometheus metrics of dispatch (prefix liandong_, bounded labels: county, township, body, department, rule)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_EMITTED = Counter("liandong_dispatch_events_emitted_total", "Case events published by dispatch", ["event"])
CASES_OPENED = Counter("liandong_dispatch_cases_opened_total",
                       "Cases opened from a finding that matched no open case", ["county", "township", "routing_rule"])
FINDINGS_MERGED = Counter("liandong_dispatch_findings_merged_total",
                          "Findings merged into an open case, by dedup rule", ["county", "township", "rule"])
REFERRALS_ISSUED = Counter("liandong_dispatch_referrals_issued_total", "Referrals issued, by receiving body",
                           ["county", "team", "department"])
TRANSITIONS = Counter("liandong_dispatch_referral_transitions_total",
                      "Referral lifecycle transitions dispatch accepted", ["county", "team", "action"])
ANSWERS = Counter("liandong_dispatch_referral_answers_total",
                  "First answers to a referral (accept or return), against its acceptance deadline",
                  ["county", "team", "answer", "timeliness"])
OPEN_CASES = Gauge("liandong_dispatch_open_cases", "Open cases in this worker's dedup index", ["county", "township"])
REFERRALS_OPEN = Gauge("liandong_dispatch_referrals_open", "Referrals of this worker not closed or returned",
                       ["county", "team", "state"])
REFERRALS_OVERDUE = Gauge("liandong_dispatch_referrals_overdue",
                          "Referrals of this worker still unanswered past their acceptance deadline",
                          ["county", "team"])
E2E_SECONDS = Histogram(
    "liandong_dispatch_acceptance_to_referral_seconds",
    "From the patrol service's acceptance of a finding to its referral being published",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
DEADLINE_CHECKS = Counter("liandong_dispatch_deadline_checks_total",
                          "Deadline checks requested for referrals found past their deadline")
STATE_SWEPT = Counter("liandong_dispatch_state_swept_total",
                      "What retention dropped from dispatch's state: a closed case's files and referrals "
                      "(case_files), or the closed case itself at the end of its recurrence window (recurrence)",
                      ["what"])
for _what in ("case_files", "recurrence"):
    STATE_SWEPT.labels(_what)  # born at 0: the first sweep shows in increase()
