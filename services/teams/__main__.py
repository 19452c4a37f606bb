"""Referral CLI for a receiving body: county teams, agencies, township offices and county coordination.

    python -m services.teams --body team:210624:natural_resources watch
    python -m services.teams --body team:210624:natural_resources accept REFERRAL_ID
    python -m services.teams --body ... return REFERRAL_ID --reason-code not_our_duty [--reason "..."]
    python -m services.teams --body ... extend REFERRAL_ID --reason "..."
    python -m services.teams --body ... start-handling REFERRAL_ID
    python -m services.teams --body ... feed-back REFERRAL_ID --outcome rectified [--note "..."] [--evidence URL ...]
  the reporting township (its body id township:<code>), on the referral of its case:
    python -m services.teams --body township:210624100 verify REFERRAL_ID [--case-id C --dedup-group G]
    python -m services.teams --body township:210624100 close REFERRAL_ID [--note "..."] [...]
    python -m services.teams --body township:210624100 rework REFERRAL_ID --reason "..." [--due-by ISO] [...]
  county coordination (coordination:<county>), on a dispute referred to it:
    python -m services.teams --body coordination:210624 decide REFERRAL_ID --body BODY_ID --reason "..."

Every action goes to this body's own responses topic; liandong's relay republishes it as this body. Running the same
command again is the same action (its key is derived from the referral, the action and what the command says, or
from --key): answered once. A township verifies, closes or sends back referrals sent to another body: dispatch
copies every referral of the township's cases to the township's own topic (``watch`` shows them as COPY), so the
referral id is enough; for a referral issued before copies were made, give --case-id and --dedup-group (from the
case register or the feed).

Broker and prefix come from LIANDONG_BOOTSTRAP_SERVERS / LIANDONG_TOPIC_PREFIX (see services.common.settings).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from pydantic import ValidationError

from schemas.events import (
    ReferralAction,
    ReferralIssued,
    ReferralOutcome,
    ReferralOverdue,
    RelatedCaseOpened,
    ReturnReason,
)
from services.common.settings import KafkaSettings
from services.teams.client import ReferralClient, ReferralRef

TOWNSHIP_COMMANDS = ("verify", "close", "rework")


def _print_referral(model: object, body_id: str) -> None:
    if isinstance(model, ReferralIssued):
        copy = "" if model.body_id == body_id else f"COPY (sent to {model.body_id}) "
        print(f"{copy}{model.referral_id}  case {model.case_id}  {model.category_code}  "
              f"township {model.township_code}  accept by {model.accept_by.isoformat()}  attempt {model.attempt}  "
              f"[{model.routing.rule}: {model.routing.detail}]  dedup group {model.dedup_group}", flush=True)
    elif isinstance(model, ReferralOverdue):
        print(f"OVERDUE {model.referral_id}  case {model.case_id}  deadline {model.deadline.isoformat()}  "
              f"escalated to {model.escalated_to}", flush=True)
    elif isinstance(model, RelatedCaseOpened):
        print(f"RELATED case {model.case_id}: another matter at the same place, {model.related.category_code}, "
              f"is case {model.related.case_id} for {model.related.lead_body_id}", flush=True)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its offset, e.g. 2026-12-10T17:00:00+08:00")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body", required=True, help="this body's id, e.g. team:210624:natural_resources")
    sub = parser.add_subparsers(dest="command", required=True)
    watch = sub.add_parser("watch", help="print referrals as they arrive (Ctrl-C to stop)")
    watch.add_argument("--idle-timeout-seconds", type=float, default=None, help="stop after this long idle")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("referral_id")
        command.add_argument("--key", help="your own idempotency key: the same key is the same action")
        if name in TOWNSHIP_COMMANDS:
            command.add_argument("--case-id", help="for a referral not on this body's topic")
            command.add_argument("--dedup-group", help="for a referral not on this body's topic")
        return command

    action("accept", "sign for a referral (签收)")
    action("start-handling", "start handling an accepted referral")
    ret = action("return", "return a referral that is not this body's, with the reason (退回)")
    ret.add_argument("--reason-code", choices=[r.value for r in ReturnReason], required=True)
    ret.add_argument("--reason", help="text; required with --reason-code other")
    ext = action("extend", "extend the acceptance deadline once (3 → 5 working days)")
    ext.add_argument("--reason", required=True)
    feed = action("feed-back", "feed the result back (处理反馈)")
    feed.add_argument("--outcome", required=True, choices=[o.value for o in ReferralOutcome])
    feed.add_argument("--note")
    feed.add_argument("--evidence", nargs="+", default=[], metavar="URL", help="http(s) links to evidence")
    action("verify", "township: the fed-back result checks out (核查)")
    close = action("close", "township: close the verified case (结案)")
    close.add_argument("--note")
    rework = action("rework", "township: send the result back for more work (驳回重办)")
    rework.add_argument("--reason", required=True)
    rework.add_argument("--due-by", type=_aware, help="new deadline to feed back (ISO 8601 with offset)")
    decide = action("decide", "coordination: name the competent body of a dispute (指定管辖)")
    decide.add_argument("--body", "--body-id", dest="designated", required=True, help="the body named competent")
    decide.add_argument("--reason", required=True)
    return parser


def _referral(client: ReferralClient, args: argparse.Namespace) -> ReferralIssued | ReferralRef:
    if getattr(args, "case_id", None) or getattr(args, "dedup_group", None):
        if not (args.case_id and args.dedup_group):
            raise LookupError("--case-id and --dedup-group go together")
        return ReferralRef(args.referral_id, args.case_id, args.dedup_group)
    try:
        return client.find(args.referral_id)
    except LookupError:
        if args.command in TOWNSHIP_COMMANDS:
            raise LookupError(f"no referral {args.referral_id} on {client.topic}; a referral sent to another body "
                              "needs --case-id and --dedup-group") from None
        raise


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = KafkaSettings()
    if not settings.kafka_delivery().covers(args.body):
        print(f"error: {args.body} is not sent its referrals on Kafka (LIANDONG_KAFKA_DELIVERY_COUNTIES does not "
              "cover its county): it reads and answers them in the workbench or through info-share's lifecycle API "
              "(/v1/referrals)", file=sys.stderr)
        return 2
    client = ReferralClient(settings.bootstrap_servers, args.body, settings.topic_prefix)
    try:
        if args.command == "watch":
            timeout = int(args.idle_timeout_seconds * 1000) if args.idle_timeout_seconds else None
            for model in client.watch(idle_timeout_ms=timeout):
                _print_referral(model, client.body_id)
            return 0
        referral = _referral(client, args)
        action = ReferralAction(args.command.replace("-", "_"))
        response = client.respond(
            referral, action, key=args.key,
            reason=getattr(args, "reason", None) or getattr(args, "note", None),
            outcome=ReferralOutcome(args.outcome) if action is ReferralAction.FEED_BACK else None,
            reason_code=ReturnReason(args.reason_code) if action is ReferralAction.RETURN else None,
            designated_body_id=getattr(args, "designated", None), due_by=getattr(args, "due_by", None),
            evidence=getattr(args, "evidence", ()),
        )
        print(f"sent {response.action.value} for {response.referral_id} (key {response.response_id}) on "
              f"{client.responses_topic}; dispatch validates it and records the transition on the case-events topic")
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
