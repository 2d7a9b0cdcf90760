"""Who manages the router: command-centre dispatchers and the system administrator (`router.manage`); and the
names of the router's audit actions (versions.py, handlers.py)."""

from django.utils.translation import gettext_lazy

from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.audit import labels as audit_labels

MANAGE = "router.manage"
grant_capabilities(MANAGE, {Role.COMMAND_DISPATCHER, Role.SYSTEM_ADMIN})

audit_labels.register_domain("router", gettext_lazy("智能分拨"), order=210)
audit_labels.name_actions({
    "router.register": gettext_lazy("登记分拨模型版本"),
    "router.activate": gettext_lazy("启用分拨模型版本"),
    "router.retrain": gettext_lazy("重新训练分拨模型"),
    "router.retrain_requested": gettext_lazy("申请重新训练分拨模型"),
    "router.auto_dispatch": gettext_lazy("自动派遣"),
    "router.system_account": gettext_lazy("创建智能分拨系统账号"),
    "router.system_grant": gettext_lazy("授予智能分拨系统角色"),
})
