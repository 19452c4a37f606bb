"""The words and cues a card shows: deadline standing (words and colour both), action names, reason codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.common.roles import Role

# info-share's action value -> (its route segment, the button's words)
ACTIONS: dict[str, tuple[str, str]] = {
    "accept": ("accept", "签收"), "return": ("return", "退回"), "extend": ("extension", "申请延期"),
    "start_handling": ("start", "开始办理"), "feed_back": ("feedback", "反馈处理结果"),
    "verify": ("verify", "核查通过"),
    "close": ("close", "结案"), "rework": ("rework", "驳回重办"), "decide": ("decision", "指定管辖"),
}
SEGMENTS = {segment for segment, _ in ACTIONS.values()}
RETURN_REASONS = {"wrong_place": "属地不符", "overlapping_duties": "职能交叉", "unclear_ownership": "权属不清",
                  "not_our_duty": "不属本部门职责", "other": "其他（请说明）"}
OUTCOMES = {"rectified": "已整改", "penalty_decided": "已作出处罚决定", "no_violation": "经查无违法行为",
            "transferred_to_judiciary": "已移送司法机关"}
STATES = {"issued": "待签收", "accepted": "已签收", "handling": "办理中", "result_fed_back": "已反馈",
          "verified": "核查通过", "closed": "已结案", "returned": "已退回", "decided": "已指定管辖"}
KINDS = {"team": "县直部门执法队伍", "agency": "派驻机构", "township": "乡镇（街道）综合行政执法办公室",
         "coordination": "县级协调（司法局）"}
# The role a body's token carries (services/common/roles.py).
ROLES = {"team": Role.COUNTY_TEAM.value, "agency": Role.DISPATCHED_AGENCY.value,
         "township": Role.TOWNSHIP_OFFICER.value, "coordination": Role.COUNTY_COORDINATION.value}


@dataclass(frozen=True)
class DeadlineCue:
    css_class: str  # colour is a second cue only: the words say the same
    words: str


def deadline_cue(card: dict[str, Any]) -> DeadlineCue | None:
    """红牌 overdue, 黄牌 due soon, or on time, always with info-share's words (剩余3个工作日, 超期2个工作日)."""
    label = card.get("deadline_label")
    if not label:
        return None
    flag = card.get("deadline_flag")
    if flag == "overdue":
        return DeadlineCue("deadline-overdue", f"红牌 · {label}")
    if flag == "due_soon":
        return DeadlineCue("deadline-soon", f"黄牌 · {label}")
    return DeadlineCue("deadline-ok", label)


def refusal_words(status: int, answer: dict[str, Any]) -> str:
    """info-share's refusal in words a person can act on, with its own detail."""
    head = {401: "登录已失效，请重新登录", 403: "无权办理：此事项不属于您所在单位", 404: "未找到该移送",
            409: "当前状态不允许此操作", 422: "填写内容不符合要求",
            503: "系统繁忙，请稍后重试"}.get(status, "操作未完成")
    detail = answer.get("detail") or answer.get("reason") or answer.get("error") or ""
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "；".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg', '')}" for d in detail)
    state = answer.get("state")
    suffix = f"（当前状态：{STATES.get(state, state)}）" if state else ""
    return f"{head}{suffix}" + (f" — {detail}" if detail else "")


def body_kind(body_id: str) -> str:
    return body_id.partition(":")[0]
