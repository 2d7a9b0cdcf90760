from django.apps import AppConfig


class HazardsConfig(AppConfig):
    """Safety-hazard and flood hazard ledgers: register, inspection campaigns, the three lists, 包保."""

    name = "civicgrid.apps.hazards"
    label = "hazards"
    verbose_name = "隐患台账"

    def ready(self):
        from civicgrid.foundation.core import keys

        from . import handlers, workflow  # noqa: F401  (capabilities, the hazard loop, SLA reactions)
        from .services.register import OWNER_PHONE_CONTEXT

        keys.register_encrypted_column("hazards.Hazard", "owner_phone_enc", OWNER_PHONE_CONTEXT)
