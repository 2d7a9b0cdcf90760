from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "civicgrid.foundation.sla"
    label = "sla"
    verbose_name = "时限"
