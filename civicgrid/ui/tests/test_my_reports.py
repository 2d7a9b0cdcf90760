"""我的上报: a signed-in resident finds their own reports again (number, title, public status, time, the follow
page), in a fixed number of queries per page, never another person's; the 已收到 receipt with the follow link
reaches their own inbox; the menu and home page link the list for residents."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from civicgrid.apps.cases.models import Case, CaseReporter
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import GRID, loop, report  # noqa: F401
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.notify.models import Notification
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

URL = "/cases/mine/"


def listed(html: str) -> list[str]:
    """The case numbers of the list's rows, in order."""
    table = re.search(r"<table[^>]*data-my-reports>(.*?)</table>", html, re.S).group(1)
    return re.findall(r'<tr data-oid="\d+" data-number="(\d+)"', table)


def by_resident(loop, user=None, **kw):
    return report(loop, actor=user or loop.resident, source="public", **kw)


def test_the_list_has_its_address_and_needs_a_sign_in(loop, client):
    assert reverse("ui:my_reports") == URL
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("ui:login"))


def test_a_resident_sees_their_own_reports_with_their_follow_pages_and_nobody_elses(loop, client_for):
    mine = by_resident(loop, title="楼道灯坏了")
    second = by_resident(loop, title="井盖松动")
    neighbour = user_with(Role.RESIDENT, region=loop.tree[GRID], username="jm2")
    theirs = by_resident(loop, user=neighbour, title="邻居的上报")
    staffs = report(loop, title="网格员的上报")  # the grid worker's
    hotline = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-20261201-0009",
                     callback_phone="13812345678", title="热线来电")
    Case.objects.filter(pk=mine.pk).update(reported_at=mine.reported_at - timedelta(hours=1))
    c = client_for(loop.resident)
    response = c.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert listed(html) == [second.number, mine.number]  # newest first
    for other in (theirs, staffs, hotline):
        assert other.number not in html and other.title not in html
    tokens = dict(CaseReporter.objects.filter(user=loop.resident).values_list("original_case__number",
                                                                              "follow_token"))
    for case in (mine, second):
        link = reverse("ui:follow", args=[tokens[case.number]])
        assert f'href="{link}" data-follow="{case.number}"' in html
        assert case.title in html
        page = c.get(link)  # the link opens their follow page, as the reporter
        assert page.status_code == 200 and case.number in page.content.decode()
        assert page.context["info"]["staff_viewer"] is False
    assert 'data-status="reported">待受理</span>' in html
    assert timezone_text(second) in html
    # no token of anybody else's report is on the page
    others = CaseReporter.objects.exclude(user=loop.resident).values_list("follow_token", flat=True)
    assert not [t for t in others if t in html]
    # the neighbour sees theirs only
    assert listed(client_for(neighbour).get(URL).content.decode()) == [theirs.number]


def timezone_text(case) -> str:
    from django.utils import timezone

    return timezone.localtime(case.reported_at).strftime("%Y-%m-%d %H:%M")


def test_the_status_is_the_publics_and_a_merged_report_names_the_case_it_joined(loop, client_for):
    parent = report(loop)
    child = by_resident(loop, title="门口垃圾没人清")
    accepted = by_resident(loop, title="路灯")
    act(actor=loop.dispatcher, case=accepted, action="accept")
    act(actor=loop.dispatcher, case=child, action="merge", parent=parent.number)
    html = client_for(loop.resident).get(URL).content.decode()
    assert set(listed(html)) == {child.number, accepted.number}
    assert 'data-status="accepted">待派遣</span>' in html
    # a merged report is followed on the case it joined: its status, and the join named
    parent.refresh_from_db()
    assert f'data-status="{parent.status}">' in html and f'data-merged-into="{parent.number}">并入案卷 {parent.number}' in html


def test_a_title_with_a_phone_number_is_listed_masked(loop, client_for):
    """Given a resident's report whose title carries a phone number, when 我的上报 lists it, then the title is the
    masked one (as every other list shows it): the number is not on the page."""
    case = by_resident(loop, title="楼道漏水 联系13812345678")
    assert "13812345678" not in case.title_masked and case.title_masked.startswith("楼道漏水")
    html = client_for(loop.resident).get(URL).content.decode()
    assert listed(html) == [case.number]
    assert "13812345678" not in html
    assert case.title_masked in html


def test_a_page_takes_as_many_queries_however_many_reports(loop, client_for):
    c = client_for(loop.resident)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(URL).status_code == 200
        return len(ctx.captured_queries)

    case = by_resident(loop)
    one = queries()
    # 44 more of their reporter rows (on one case: the list's queries do not depend on which)
    CaseReporter.objects.bulk_create([CaseReporter(case=case, original_case=case, user=loop.resident,
                                                   follow_token=f"many-reports-token-{i:04d}") for i in range(44)])
    assert queries() == one
    html = c.get(URL).content.decode()
    assert len(listed(html)) == 20 and 'rel="next"' in html
    assert len(listed(c.get(URL, {"page": "3"}).content.decode())) == 5


def test_the_receipt_with_the_follow_link_reaches_the_residents_own_inbox(loop, client_for):
    case = by_resident(loop)
    token = CaseReporter.objects.get(original_case=case).follow_token
    told = Notification.objects.get(user=loop.resident)
    assert told.title == f"案卷进展：{case.number}"
    assert told.body.startswith(f"您反映的问题（案卷号 {case.number}）已收到。当前状态：待受理。")
    assert reverse("ui:follow", args=[token]) in told.body
    # its 查看 opens the follow page (a resident has no case page)
    html = client_for(loop.resident).get(reverse("ui:inbox")).content.decode()
    assert f'value="{reverse("ui:follow", args=[token])}"' in html
    # staff reporting are not told of their own act
    before = Notification.objects.filter(user=loop.worker).count()
    report(loop)
    assert Notification.objects.filter(user=loop.worker).count() == before


def test_the_menu_and_home_page_link_the_list_for_residents_only(loop, client_for):
    html = client_for(loop.resident).get(reverse("ui:home")).content.decode()
    assert f'href="{URL}"' in html and "我的上报" in html
    staff = client_for(loop.dispatcher).get(reverse("ui:home")).content.decode()
    assert f'href="{URL}"' not in staff


def test_the_report_pages_success_card_points_a_resident_to_the_list(loop, client_for):
    resident = client_for(loop.resident).get(reverse("ui:case_report")).content.decode()
    assert f'data-my-reports-link>登录后也可在<a href="{URL}">我的上报</a>中随时查看' in resident
    worker = client_for(loop.worker).get(reverse("ui:case_report")).content.decode()
    assert "data-my-reports-link" not in worker
