"""Capabilities of flood control and the response task's transition table (签收 → 完成)."""

from django.utils.translation import gettext_noop

from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.access.scope import scope_for
from civicgrid.foundation.workflow.engine import Transition, Workflow

from .models import TaskStatus, TaskTarget

_STREET = {Role.STREET_STAFF, Role.STREET_DISPATCHER}
_CENTRE = {Role.COMMAND_DISPATCHER, Role.LEADER}
grant_capabilities("flood.view", _STREET | _CENTRE | {Role.GRID_WORKER, Role.COMMUNITY_STAFF,
                                                      Role.DEPARTMENT_HANDLER})
# Enter readings: street staff, the command centre's dispatchers; gauges send with their station's feed account.
grant_capabilities("flood.report", _STREET | {Role.COMMAND_DISPATCHER})
# Season, thresholds, response rules, task templates, stations; raise, lower and lift the response.
grant_capabilities("flood.manage", _CENTRE)
# Acknowledge and complete response tasks.
grant_capabilities("flood.task", _STREET | {Role.DEPARTMENT_HANDLER})
# Duty rosters of a street.
grant_capabilities("flood.roster", _STREET | {Role.COMMAND_DISPATCHER})


def is_responsible(task, user) -> bool:
    """Street tasks belong to the street's staff; department tasks to the 包保 department's handlers."""
    if user.is_superuser:
        return True
    scope = scope_for(user, "flood.task")
    if task.target == TaskTarget.DEPARTMENT:
        return task.department_id is not None and task.department_id in scope.department_ids
    return any(task.region_code.startswith(code) for code in scope.region_codes)


S = TaskStatus
TASK_WORKFLOW = Workflow(
    name="flood_task",
    states={s.value: str(s.label) for s in TaskStatus},
    transitions=[
        Transition("ack", gettext_noop("签收"), frozenset({S.ISSUED}), S.ACKNOWLEDGED, "flood.task", guard=is_responsible,
                   style="primary", order=10),
        Transition("done", gettext_noop("完成"), frozenset({S.ACKNOWLEDGED}), S.DONE, "flood.task", guard=is_responsible,
                   requires=("note",), style="primary", order=20),
    ],
)
