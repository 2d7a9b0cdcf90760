from django.apps import AppConfig


class MaterialsConfig(AppConfig):
    """Emergency materials: warehouses, stock, movements, stock counts, shortage alerts, nearest stock."""

    name = "civicgrid.apps.materials"
    label = "materials"
    verbose_name = "应急物资"
