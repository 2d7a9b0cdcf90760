from django.apps import AppConfig


class UiConfig(AppConfig):
    """Base templates, navigation, vendored static files and the foundation's pages."""

    name = "civicgrid.ui"
    label = "ui"
    verbose_name = "界面"
