"""The hazard loop 排查 → 登记 → 整改 → 验收 → 销号 as a transition table; it drives services and buttons alike.

Rules the table cannot express are checked by the services: a 重大 hazard needs its governance plan with the five
assurances before rectification starts; a hazard that cannot be fixed in the short term needs an emergency plan
(responsible person and procedure); close-out needs a passed acceptance check (the `passed` state).
"""

from django.utils.translation import gettext_lazy, gettext_noop

from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.audit import labels as audit_labels
from civicgrid.foundation.workflow.engine import Transition, Workflow

from .models import Status

S = Status

_FIELD = {Role.GRID_WORKER, Role.COMMUNITY_STAFF}
_STREET = {Role.STREET_STAFF, Role.STREET_DISPATCHER}
_CENTRE = {Role.COMMAND_DISPATCHER}
grant_capabilities("hazards.view", _FIELD | _STREET | _CENTRE | {Role.DEPARTMENT_HANDLER, Role.LEADER})
grant_capabilities("hazards.register", _FIELD | _STREET | _CENTRE | {Role.DEPARTMENT_HANDLER})
grant_capabilities("hazards.inspect", _FIELD | _STREET)  # fill in checklists
grant_capabilities("hazards.campaign", _STREET | _CENTRE)  # open campaigns, set checklists
grant_capabilities("hazards.plan", _STREET | _CENTRE | {Role.DEPARTMENT_HANDLER, Role.COMMUNITY_STAFF})
grant_capabilities("hazards.rectify", _STREET | {Role.COMMUNITY_STAFF, Role.DEPARTMENT_HANDLER})
grant_capabilities("hazards.check", _STREET | _CENTRE | {Role.DEPARTMENT_HANDLER})  # 验收
grant_capabilities("hazards.close", _STREET | _CENTRE)  # 销号
grant_capabilities("hazards.supervise", _CENTRE | {Role.LEADER})  # 挂牌督办
grant_capabilities("hazards.manage", _CENTRE)  # void, edit registrations, 包保 table
grant_capabilities("hazards.export", _STREET | _CENTRE | {Role.DEPARTMENT_HANDLER, Role.LEADER})
grant_capabilities("hazards.import", _STREET | _CENTRE)

OPEN = frozenset({S.REGISTERED, S.RECTIFYING, S.CHECKING, S.PASSED})

HAZARD_WORKFLOW = Workflow(
    name="hazard",
    states={s.value: str(s.label) for s in Status},
    transitions=[
        Transition("start", gettext_noop("开始整改"), frozenset({S.REGISTERED}), S.RECTIFYING, "hazards.rectify",
                   requires=("measures", "deadline"), style="primary", order=10),
        Transition("report_done", gettext_noop("整改完成"), frozenset({S.RECTIFYING}), S.CHECKING, "hazards.rectify",
                   requires=("note",), style="primary", order=20),
        Transition("pass_check", gettext_noop("验收通过"), frozenset({S.CHECKING}), S.PASSED, "hazards.check",
                   requires=("checker",), style="primary", order=30),
        Transition("fail_check", gettext_noop("验收不通过"), frozenset({S.CHECKING}), S.RECTIFYING, "hazards.check",
                   requires=("reason",), style="danger", order=35),
        Transition("close_out", gettext_noop("销号"), frozenset({S.PASSED}), S.CLOSED, "hazards.close",
                   style="primary", order=40),
        Transition("supervise", gettext_noop("挂牌督办"), OPEN, None, "hazards.supervise",
                   guard=lambda h, u: not h.is_supervised, requires=("reason",), order=60),
        Transition("unsupervise", gettext_noop("解除督办"), OPEN, None, "hazards.supervise",
                   guard=lambda h, u: h.is_supervised and h.grade != "major", requires=("reason",), order=61),
        Transition("note", gettext_noop("添加进展"), OPEN, None, "hazards.rectify", requires=("note",), order=70),
        Transition("reopen", gettext_noop("回头看复发"), frozenset({S.CLOSED}), S.RECTIFYING, "hazards.check",
                   requires=("reason",), style="danger", order=80),
        Transition("void", gettext_noop("撤销"), frozenset({S.REGISTERED}), S.VOIDED, "hazards.manage",
                   requires=("reason",), style="danger", order=90),
    ],
)

# Timeline entries that are not transitions of the table (Chinese; pages translate them).
EXTRA_STEP_LABELS = {"register": gettext_noop("登记"), "overdue": gettext_noop("超期"),
                     "plan_governance": gettext_noop("制定治理方案"), "plan_emergency": gettext_noop("制定应急预案"),
                     "revisit": gettext_noop("回头看")}

# Audit actions: "hazards." + the step's name (services.common.record), named as the timeline is; and the
# campaigns' own actions (services.campaigns._record) and the demo's.
audit_labels.register_domain("hazards", gettext_lazy("隐患"), order=110)
audit_labels.name_actions({
    **{f"hazards.{name}": gettext_lazy(label) for name, label in EXTRA_STEP_LABELS.items()},
    **{f"hazards.{t.name}": gettext_lazy(t.label) for t in HAZARD_WORKFLOW.transitions},
    "hazards.reveal_phone": gettext_lazy("查看责任人电话"),
    "hazards.campaign_open": gettext_lazy("开展排查"),
    "hazards.campaign_close": gettext_lazy("结束排查"),
    "hazards.inspection_fill": gettext_lazy("填报排查表"),
    "hazards.revisit_open": gettext_lazy("开展回头看"),
    "hazards.demo_inspections": gettext_lazy("生成演示排查记录"),
    "hazards.patrons_loaded": gettext_lazy("载入包保关系"),
})
