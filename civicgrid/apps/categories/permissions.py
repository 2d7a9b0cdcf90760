"""Who may read and change categories and routing rules.

Categories are configuration, not region-scoped data: every staff role reads all of them (a grid worker
picks one when reporting); residents and volunteers see only those open to public reports. Changing them and
the routing rules is the command centre's and the system administrator's work (`categories.manage`; the
cases app grants the same, which is harmless). `categories.route` asks for a dispatch suggestion within the
asker's own regions.
"""

from django.utils.translation import gettext_lazy

from civicgrid.foundation.access.roles import Role, grant_capabilities
from civicgrid.foundation.audit import labels as audit_labels

STAFF = {
    Role.GRID_WORKER,
    Role.COMMUNITY_STAFF,
    Role.STREET_STAFF,
    Role.STREET_DISPATCHER,
    Role.DEPARTMENT_HANDLER,
    Role.COMMAND_DISPATCHER,
    Role.LEADER,
}
VIEW = "categories.view"
VIEW_PUBLIC = "categories.view_public"
MANAGE = "categories.manage"
ROUTE = "categories.route"

grant_capabilities(VIEW, STAFF | {Role.SYSTEM_ADMIN})
grant_capabilities(VIEW_PUBLIC, {Role.VOLUNTEER, Role.RESIDENT})
grant_capabilities(MANAGE, {Role.SYSTEM_ADMIN, Role.COMMAND_DISPATCHER})
grant_capabilities(ROUTE, {Role.COMMAND_DISPATCHER, Role.STREET_DISPATCHER})

# Audit actions of the categories app beyond the foundation's data.* (services.RULE_CORRECTED and
# RULE_CORRECTED_AT_DISPATCH).
audit_labels.register_domain("categories", gettext_lazy("事件分类与分拨规则"), order=150)
audit_labels.name_actions({"categories.rule_corrected": gettext_lazy("按退回修正分拨规则"),
                           "categories.rule_corrected_at_dispatch": gettext_lazy("派遣或改派时更正分拨规则")})
