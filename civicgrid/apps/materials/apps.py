from django.apps import AppConfig


class MaterialsConfig(AppConfig):
    """Emergency materials: warehouses, stock, movements, stock counts, shortage alerts, nearest stock."""

    name = "civicgrid.apps.materials"
    label = "materials"
    verbose_name = "应急物资"

    def ready(self):
        from civicgrid.foundation.core import keys

        from . import capabilities  # noqa: F401  (materials.view / change / manage)
        from .services.common import KEEPER_PHONE_CONTEXT

        keys.register_encrypted_column("materials.Warehouse", "keeper_phone_enc", KEEPER_PHONE_CONTEXT)
