"""Capabilities of the rescue app and the incident's transition table (it drives services and buttons alike).

Who does what:
* `rescue.view`: staff of every level (teams are seen from inside their region and by their organisation;
  incidents by region, and by the organisations of the teams called out to them).
* `rescue.manage` (teams: create, edit, members, availability): the command centre for all teams; street staff
  for the teams of their street (the service checks that the team's region lies in the actor's own subtree, so
  a street never edits the district's fire brigade).
* `rescue.command` (raise incidents, call out teams, issue materials, control, close): the command centre,
  street staff and street dispatchers, within their region.
* `rescue.respond` (acknowledge, arrive, release a call-out): the team's own accounts. A team account is a
  department handler whose grant names the team's organisation (the fire brigade, a social force); street
  staff answer for their street's part-time team; the command centre may record a team's answer given by
  phone. The service checks the team lies in the actor's respond scope (organisation or region subtree).
"""

from django.utils.translation import gettext_lazy, gettext_noop

from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.audit import labels as audit_labels
from civicgrid.foundation.workflow.engine import Transition, Workflow

from .models import IncidentStatus

S = IncidentStatus

_STREET = {Role.STREET_STAFF, Role.STREET_DISPATCHER}
_CENTRE = {Role.COMMAND_DISPATCHER}
grant_capabilities("rescue.view", _STREET | _CENTRE | {Role.GRID_WORKER, Role.COMMUNITY_STAFF,
                                                       Role.DEPARTMENT_HANDLER, Role.LEADER})
grant_capabilities("rescue.manage", _CENTRE | {Role.STREET_STAFF})
grant_capabilities("rescue.command", _STREET | _CENTRE)
grant_capabilities("rescue.respond", _CENTRE | {Role.STREET_STAFF, Role.DEPARTMENT_HANDLER})

OPEN = frozenset({S.REPORTED, S.RESPONDING, S.CONTROLLED})
REPORT_FIELDS = ("summary", "actions", "losses", "lessons")

INCIDENT_WORKFLOW = Workflow(
    name="incident",
    states={s.value: str(s.label) for s in IncidentStatus},
    transitions=[
        Transition("callout", gettext_noop("调派队伍"), OPEN, None, "rescue.command", requires=("teams",),
                   style="primary", order=10),
        Transition("issue_material", gettext_noop("调拨物资"), OPEN, None, "rescue.command",
                   requires=("warehouse", "item", "quantity"), order=20),
        Transition("respond", gettext_noop("开始处置"), frozenset({S.REPORTED}), S.RESPONDING, "rescue.command",
                   order=30),
        Transition("control", gettext_noop("险情已控制"), frozenset({S.RESPONDING}), S.CONTROLLED, "rescue.command",
                   requires=("note",), order=40),
        Transition("close", gettext_noop("结束险情"), OPEN, S.CLOSED, "rescue.command", requires=REPORT_FIELDS,
                   style="danger", order=50),
        Transition("note", gettext_noop("添加进展"), OPEN, None, "rescue.command", requires=("note",), order=60),
    ],
)

STEP_LABELS = {
    "raise": gettext_noop("报告险情"),
    "callout": gettext_noop("调派队伍"),
    "acknowledge": gettext_noop("队伍响应"),
    "arrive": gettext_noop("队伍到达"),
    "release": gettext_noop("队伍归队"),
    "issue_material": gettext_noop("调拨物资"),
    "respond": gettext_noop("开始处置"),
    "control": gettext_noop("险情已控制"),
    "close": gettext_noop("结束险情"),
    "note": gettext_noop("添加进展"),
    "ack_overdue": gettext_noop("队伍超时未响应"),
}

# Audit actions of the rescue services; call-outs are named as their timeline steps are.
audit_labels.register_domain("rescue", gettext_lazy("抢险救援"), order=140)
audit_labels.name_actions({
    "rescue.team_created": gettext_lazy("登记队伍"),
    "rescue.team_changed": gettext_lazy("修改队伍"),
    "rescue.team_availability": gettext_lazy("队伍状态变更"),
    "rescue.member_added": gettext_lazy("添加队员"),
    "rescue.member_changed": gettext_lazy("修改队员"),
    "rescue.incident_raised": gettext_lazy(STEP_LABELS["raise"]),
    "rescue.callout": gettext_lazy(STEP_LABELS["callout"]),
    "rescue.acknowledged": gettext_lazy(STEP_LABELS["acknowledge"]),
    "rescue.arrived": gettext_lazy(STEP_LABELS["arrive"]),
    "rescue.released": gettext_lazy(STEP_LABELS["release"]),
    "rescue.material_issued": gettext_lazy(STEP_LABELS["issue_material"]),
    "rescue.incident_responding": gettext_lazy(STEP_LABELS["respond"]),
    "rescue.incident_controlled": gettext_lazy(STEP_LABELS["control"]),
    "rescue.incident_note": gettext_lazy(STEP_LABELS["note"]),
    "rescue.incident_closed": gettext_lazy(STEP_LABELS["close"]),
})
