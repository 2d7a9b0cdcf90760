from django.apps import AppConfig


class CasesConfig(AppConfig):
    """The grid-event closed loop: report → accept → dispatch → handle → verify → close → evaluate."""

    name = "civicgrid.apps.cases"
    label = "cases"
    verbose_name = "网格事件"

    def ready(self):
        from . import workflow  # noqa: F401  (registers the loop's capabilities)
