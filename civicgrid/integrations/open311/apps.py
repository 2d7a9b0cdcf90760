from django.apps import AppConfig


class Open311Config(AppConfig):
    """Open311 GeoReport v2 (with FixMyStreet's servicerequestupdates extension) under /open311/v2/."""

    name = "civicgrid.integrations.open311"
    label = "open311"
    verbose_name = "Open311 开放接口"

    def ready(self):
        from civicgrid.foundation.core import jobs, keys

        from . import models, services

        jobs.register("open311.drain", services.run_drain)  # queued clients' reports become cases

        # rotate_keys re-encrypts what Open311 callers told us about themselves with every other personal field.
        for model, field, context in models.ENCRYPTED_COLUMNS:
            keys.register_encrypted_column(model, field, context)
