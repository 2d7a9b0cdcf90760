"""Case pages of the grid-event loop: report (phone, hotline, web), list, detail with the loop's actions.

The views live by concept in `cases_report` (phone page and its JSON), `cases_intake` (desk forms),
`cases_list` and `cases_detail`; this module maps their URLs, declares them to the scope contract and adds
the menu entries.
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_noop

from civicgrid.apps.cases.services.intake import is_public_only
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.ui.navigation import MenuItem, register

from .cases_detail import case_act, case_attachment, case_detail, case_reveal_contact, case_reveal_text
from .cases_intake import hotline_intake, web_report
from .cases_list import case_list
from .cases_mine import my_reports
from .cases_report import building_search, case_submit, locate_point, report_outline, report_page

urlpatterns = [
    path("", case_list, name="case_list"),
    path("report/", report_page, name="case_report"),
    path("report/submit/", case_submit, name="case_submit"),
    path("report/locate/", locate_point, name="case_locate"),
    path("report/buildings/", building_search, name="case_buildings"),
    path("report/outline/", report_outline, name="case_report_outline"),
    path("hotline/", hotline_intake, name="case_hotline"),
    path("new/", web_report, name="case_new"),
    path("mine/", my_reports, name="my_reports"),  # before <number>/: "mine" is no case number
    path("<str:number>/", case_detail, name="case_detail"),
    path("<str:number>/act/<str:action>/", case_act, name="case_act"),
    path("<str:number>/contact/", case_reveal_contact, name="case_reveal_contact"),
    path("<str:number>/text/", case_reveal_text, name="case_reveal_text"),
    path("<str:number>/photos/<int:attachment_id>/", case_attachment, name="case_attachment"),
]

data_endpoint("ui:case_list", "cases.Case", "list")
data_endpoint("ui:case_detail", "cases.Case", "detail", lookup="number", lookup_field="number")
data_endpoint("ui:case_buildings", "people.Building", "list")
data_endpoint("ui:case_reveal_contact", "cases.Case", "reveal", lookup="number", lookup_field="number")
data_endpoint("ui:case_reveal_text", "cases.Case", "reveal", lookup="number", lookup_field="number")
# Forms and writes: the services check scope (404 outside) and every refusal is tested in ui/tests.
non_data_endpoint("ui:case_report", "ui:case_submit", "ui:case_hotline", "ui:case_new", "ui:case_act")
# Region names at a point, and the district's outline (names, codes, coarse boundaries down to communities):
# the public administrative directory, no business rows.
non_data_endpoint("ui:case_locate", "ui:case_report_outline")
# 我的上报: the account's own reporter rows (`selectors.own_reports`), like the inbox's own messages.
data_endpoint("ui:my_reports", "cases.CaseReporter", "list")
# Two URL kwargs (case and photo): the contract addresses objects by one lookup, so this binary endpoint's
# scope (404 outside, safe headers) is tested in civicgrid/ui/tests/test_cases_pages.py.
non_data_endpoint("ui:case_attachment")

register(MenuItem("case_report", gettext_noop("事件上报"), "ui:case_report", "cases.report", order=30))
# 我的上报 for those who report as the public (residents, volunteers): staff follow cases on their own pages.
register(MenuItem("my_reports", gettext_noop("我的上报"), "ui:my_reports", "cases.report", order=29,
                  when=is_public_only))
register(MenuItem("cases", gettext_noop("事件办理"), "ui:case_list", "cases.view", order=31))
