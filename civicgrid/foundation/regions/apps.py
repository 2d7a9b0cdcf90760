from django.apps import AppConfig


class RegionsConfig(AppConfig):
    """District → street → community/village → grid, with codes and geometry."""

    name = "civicgrid.foundation.regions"
    label = "regions"
    verbose_name = "区域网格"
