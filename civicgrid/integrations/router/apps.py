from django.apps import AppConfig


class RouterConfig(AppConfig):
    """Text routing: suggest category and department for free-text reports."""

    name = "civicgrid.integrations.router"
    label = "router"
    verbose_name = "智能分拨"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import handlers, permissions  # noqa: F401  (auto-dispatch on case.reported; router.manage)
