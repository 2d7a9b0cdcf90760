"""The command-centre board's URLs, their scope-contract declarations and the menu entry (the views and the
reads are in `civicgrid.dashboards.command`)."""

from django.urls import path
from django.utils.translation import gettext_noop

from civicgrid.dashboards.command import views
from civicgrid.dashboards.command.selectors import CAPABILITY
from civicgrid.foundation.access.endpoints import data_endpoint
from civicgrid.ui.navigation import MenuItem, register

urlpatterns = [
    path("", views.board, name="board"),
    path("figures/", views.board_figures, name="board_figures"),
    path("lists/", views.board_lists, name="board_lists"),
    path("map.json", views.board_map, name="board_map"),
]

# The page, the lists and the map name cases (table rows with data-oid, JSON items with ids): checked row by
# row against the user's scope. The figures partial answers counts only: 'detail' without a lookup is checked
# for status, tables and leaked markers; that its counts stay in scope is tested in the board's own tests.
data_endpoint("ui:board", "cases.Case", "list")
data_endpoint("ui:board_lists", "cases.Case", "list")
data_endpoint("ui:board_map", "cases.Case", "list")
data_endpoint("ui:board_figures", "cases.Case", "detail")

register(MenuItem("board", gettext_noop("指挥中心看板"), "ui:board", CAPABILITY, order=15))
