from django.apps import AppConfig


class RouterConfig(AppConfig):
    """Text routing: suggest category and department for free-text reports."""

    name = "civicgrid.integrations.router"
    label = "router"
    verbose_name = "智能分拨"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.utils.translation import gettext_lazy as _

        from civicgrid.apps.cases import suggesters
        from civicgrid.apps.cases.models import SYSTEM_ACCOUNT_LABELS, SYSTEM_USERNAMES

        from . import handlers, permissions, suggest, suggest_many  # noqa: F401  (handlers: auto-dispatch; permissions: router.manage)

        suggesters.register(suggest, many=suggest_many)  # intake's suggestion for each report (and batch)
        # The auto-dispatch account's steps, named in the reader's language.
        SYSTEM_ACCOUNT_LABELS[handlers.SYSTEM_DISPLAY_NAME] = _("智能分拨（系统）")
        SYSTEM_USERNAMES.add(handlers.SYSTEM_USERNAME)  # not ranked among the dispatchers it works beside
