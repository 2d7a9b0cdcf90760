"""Capabilities of flood control and the response task's transition table (签收 → 完成)."""

from django.utils.translation import gettext_lazy, gettext_noop

from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.access.scope import scope_for
from civicgrid.foundation.audit import labels as audit_labels
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

# Audit actions: "flood." + the verb passed to services.common.record.
audit_labels.register_domain("flood", gettext_lazy("防汛"), order=120)
audit_labels.name_actions({
    "flood.season_set": gettext_lazy("设置汛期"),
    "flood.threshold_saved": gettext_lazy("保存预警阈值"),
    "flood.response_rule_saved": gettext_lazy("保存响应规则"),
    "flood.template_saved": gettext_lazy("保存任务模板"),
    "flood.station_saved": gettext_lazy("保存监测站点"),
    "flood.station_registered": gettext_lazy("自动登记监测站点"),
    "flood.roster_added": gettext_lazy("添加值班人员"),
    "flood.rainfall_recorded": gettext_lazy("录入雨量"),
    "flood.water_level_recorded": gettext_lazy("录入水位"),
    "flood.rainfall_imported": gettext_lazy("导入雨量数据"),
    "flood.water_levels_imported": gettext_lazy("导入水位数据"),
    "flood.signal_raised": gettext_lazy("提升预警信号"),
    "flood.response_started": gettext_lazy("启动应急响应"),
    "flood.response_raised": gettext_lazy("提升响应等级"),
    "flood.response_lowered": gettext_lazy("降低响应等级"),
    "flood.response_lifted": gettext_lazy("解除应急响应"),
    "flood.task_issued": gettext_lazy("下达防汛任务"),
    "flood.task_acknowledged": gettext_lazy("签收防汛任务"),
    "flood.task_done": gettext_lazy("完成防汛任务"),
    "flood.task_overdue": gettext_lazy("防汛任务超时"),
})
