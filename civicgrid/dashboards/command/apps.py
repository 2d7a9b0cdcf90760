from django.apps import AppConfig


class CommandBoardConfig(AppConfig):
    """The command-centre board (指挥中心看板): open cases on a map, counts, overdue list, today's figures."""

    name = "civicgrid.dashboards.command"
    label = "dashboards_command"
    verbose_name = "指挥中心看板"

    def ready(self):
        from . import selectors  # noqa: F401  (grants the board capability)
