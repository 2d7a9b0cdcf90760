from django.apps import AppConfig


class HazardsConfig(AppConfig):
    """Safety-hazard and flood hazard ledgers: register, inspection campaigns, the three lists, 包保."""

    name = "civicgrid.apps.hazards"
    label = "hazards"
    verbose_name = "隐患台账"

    def ready(self):
        from . import workflow  # noqa: F401  (capabilities and the hazard loop)
