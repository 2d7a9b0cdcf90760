from django.apps import AppConfig


class RouterConfig(AppConfig):
    """Text routing: suggest category and department for free-text reports."""

    name = "civicgrid.integrations.router"
    label = "router"
    verbose_name = "智能分拨"
