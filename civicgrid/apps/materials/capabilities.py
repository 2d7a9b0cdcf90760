"""Who may do what with emergency materials (each within the scope of their grants).

* `materials.view`: every staff role (warehouses in their subtree, plus the ones above them read-only);
* `materials.change` (in/out, transfers, issues to incidents, stock counts): street staff and dispatchers,
  community staff for their community's warehouses, the command centre, and department handlers for the
  warehouses of their department (the street's 包保 department or the department running the warehouse);
* `materials.manage` (catalogue, warehouses, per-street targets, stock import): the command centre; street staff
  for their own street's warehouses and targets. Catalogue changes need a district-wide grant.
"""

from django.utils.translation import gettext_lazy

from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.audit import labels as audit_labels

VIEW_ROLES = {
    Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.STREET_DISPATCHER, Role.DEPARTMENT_HANDLER,
    Role.COMMAND_DISPATCHER, Role.LEADER,
}
CHANGE_ROLES = {
    Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.STREET_DISPATCHER, Role.DEPARTMENT_HANDLER, Role.COMMAND_DISPATCHER,
}
MANAGE_ROLES = {Role.STREET_STAFF, Role.COMMAND_DISPATCHER}

grant_capabilities("materials.view", VIEW_ROLES)
grant_capabilities("materials.change", CHANGE_ROLES)
grant_capabilities("materials.manage", MANAGE_ROLES)

# Audit actions of the materials services (services.common.audit).
audit_labels.register_domain("materials", gettext_lazy("应急物资"), order=130)
audit_labels.name_actions({
    "materials.receive": gettext_lazy("物资入库"),
    "materials.draw": gettext_lazy("物资出库"),
    "materials.issue": gettext_lazy("发放物资至险情"),
    "materials.transfer_out": gettext_lazy("调出物资"),
    "materials.transfer_in": gettext_lazy("调入物资"),
    "materials.condition": gettext_lazy("变更物资状态"),
    "materials.adjust": gettext_lazy("调整库存"),
    "materials.count_start": gettext_lazy("开始盘点"),
    "materials.count_enter": gettext_lazy("录入盘点数"),
    "materials.count_confirm": gettext_lazy("确认盘点"),
    "materials.count_cancel": gettext_lazy("取消盘点"),
    "materials.item_save": gettext_lazy("保存物资品类"),
    "materials.warehouse_save": gettext_lazy("保存仓库"),
    "materials.target_set": gettext_lazy("设置储备定额"),
    "materials.target_delete": gettext_lazy("删除储备定额"),
    "materials.import": gettext_lazy("导入物资台账"),
    "materials.export": gettext_lazy("导出物资台账"),
})
