from django.apps import AppConfig


class CategoriesConfig(AppConfig):
    """Case categories (several taxonomies side by side) and routing rules category × region → department."""

    name = "civicgrid.apps.categories"
    label = "categories"
    verbose_name = "事件分类与分拨规则"

    def ready(self):
        from . import permissions  # noqa: F401  (registers the capabilities)
