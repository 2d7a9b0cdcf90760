from django.apps import AppConfig


class FloodConfig(AppConfig):
    """Flood season: duty rosters, rainfall and water-level readings, warning signals, response levels, tasks."""

    name = "civicgrid.apps.flood"
    label = "flood"
    verbose_name = "防汛"

    def ready(self):
        from civicgrid.foundation.core import keys

        from . import handlers, workflow  # noqa: F401  (capabilities, the task table, SLA event handlers)
        from .services.config import ROSTER_PHONE_CONTEXT

        keys.register_encrypted_column("flood.DutyRoster", "phone_enc", ROSTER_PHONE_CONTEXT)
