"""Who may do what with emergency materials (each within the scope of their grants).

* `materials.view`: every staff role (warehouses in their subtree, plus the ones above them read-only);
* `materials.change` (in/out, transfers, issues to incidents, stock counts): street staff and dispatchers,
  community staff for their community's warehouses, the command centre, and department handlers for the
  warehouses of their department (the street's 包保 department or the department running the warehouse);
* `materials.manage` (catalogue, warehouses, per-street targets, stock import): the command centre; street staff
  for their own street's warehouses and targets. Catalogue changes need a district-wide grant.
"""

from civicgrid.foundation.access.roles import Role, grant_capabilities

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
