from django.apps import AppConfig


class RescueConfig(AppConfig):
    """Rescue teams (抢险队伍) and incidents (险情): call-outs, dispatched teams and materials, timeline, report."""

    name = "civicgrid.apps.rescue"
    label = "rescue"
    verbose_name = "抢险救援"
