from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Accounts, roles, grants and the scoped read path."""

    name = "civicgrid.foundation.access"
    label = "access"
    verbose_name = "账号与权限"
