from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared plumbing: request context, base models, errors, crypto helpers."""

    name = "civicgrid.foundation.core"
    label = "core"
    verbose_name = "基础"
