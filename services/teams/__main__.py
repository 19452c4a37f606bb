"""Referral CLI for a receiving body.

    python -m services.teams --body team:210624:natural_resources watch
    python -m services.teams --body team:210624:natural_resources accept REFERRAL_ID
    python -m services.teams --body ... return REFERRAL_ID --reason "不屬本部門職責"
    python -m services.teams --body ... feed-back REFERRAL_ID --outcome rectified [--note "..."]

Broker and prefix come from LIANDONG_BOOTSTRAP_SERVERS / LIANDONG_TOPIC_PREFIX (see services.common.settings).
"""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from schemas.events import ReferralAction, ReferralIssued, ReferralOutcome, ReferralOverdue
from services.common.settings import KafkaSettings
from services.teams.client import ReferralClient


def _print_referral(model: object) -> None:
    if isinstance(model, ReferralIssued):
        print(f"{model.referral_id}  case {model.case_id}  {model.category_code}  township {model.township_code}  "
              f"accept by {model.accept_by.isoformat()}  attempt {model.attempt}  [{model.routing.rule}: "
              f"{model.routing.detail}]", flush=True)
    elif isinstance(model, ReferralOverdue):
        print(f"OVERDUE {model.referral_id}  case {model.case_id}  deadline {model.deadline.isoformat()}  "
              f"escalated to {model.escalated_to}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body", required=True, help="this body's id, e.g. team:210624:natural_resources")
    sub = parser.add_subparsers(dest="command", required=True)
    watch = sub.add_parser("watch", help="print referrals as they arrive (Ctrl-C to stop)")
    watch.add_argument("--idle-timeout-seconds", type=float, default=None, help="stop after this long idle")
    for name in ("accept", "start-handling"):
        sub.add_parser(name).add_argument("referral_id")
    ret = sub.add_parser("return", help="return a referral that is not this body's, with the reason")
    ret.add_argument("referral_id")
    ret.add_argument("--reason", required=True)
    ext = sub.add_parser("extend", help="extend the acceptance deadline once (3 → 5 working days)")
    ext.add_argument("referral_id")
    ext.add_argument("--reason", required=True)
    feed = sub.add_parser("feed-back", help="feed the result back")
    feed.add_argument("referral_id")
    feed.add_argument("--outcome", required=True, choices=[o.value for o in ReferralOutcome])
    feed.add_argument("--note")
    args = parser.parse_args(argv)

    settings = KafkaSettings()
    client = ReferralClient(settings.bootstrap_servers, args.body, settings.topic_prefix)
    try:
        if args.command == "watch":
            timeout = int(args.idle_timeout_seconds * 1000) if args.idle_timeout_seconds else None
            for model in client.watch(idle_timeout_ms=timeout):
                _print_referral(model)
            return 0
        referral = client.find(args.referral_id)
        action = ReferralAction(args.command.replace("-", "_"))
        outcome = ReferralOutcome(args.outcome) if args.command == "feed-back" else None
        reason = getattr(args, "reason", None) or getattr(args, "note", None)
        response = client.respond(referral, action, reason=reason, outcome=outcome)
        print(f"sent {response.action.value} for {response.referral_id} (response {response.response_id}); "
              "dispatch validates it and records the transition on the case-events topic")
        return 0
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"error: invalid response: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
