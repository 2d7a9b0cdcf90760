from django.apps import AppConfig


class FloodConfig(AppConfig):
    """Flood season: duty rosters, rainfall and water-level readings, warning signals, response levels, tasks."""

    name = "civicgrid.apps.flood"
    label = "flood"
    verbose_name = "防汛"
