"""Who manages the router: command-centre dispatchers and the system administrator (`router.manage`)."""

from civicgrid.foundation.access.roles import Role, grant_capabilities

MANAGE = "router.manage"
grant_capabilities(MANAGE, {Role.COMMAND_DISPATCHER, Role.SYSTEM_ADMIN})
