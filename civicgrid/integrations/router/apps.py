from django.apps import AppConfig


class RouterConfig(AppConfig):
    """Text routing: suggest category and department for free-text reports."""

    name = "civicgrid.integrations.router"
    label = "router"
    verbose_name = "智能分拨"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from civicgrid.apps.cases import suggesters

        from . import handlers, permissions, suggest, suggest_many  # noqa: F401  (handlers: auto-dispatch; permissions: router.manage)

        suggesters.register(suggest, many=suggest_many)  # intake's suggestion for each report (and batch)
