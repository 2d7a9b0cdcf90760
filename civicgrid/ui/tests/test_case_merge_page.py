"""Merging on the case page: offered only at a case's first intake, confirmed before it happens, and listed on
the parent with its reporters masked."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import POINT, loop, report, world_counts  # noqa: F401

pytestmark = pytest.mark.django_db


def detail(client, case) -> str:
    return client.get(reverse("ui:case_detail", args=[case.number])).content.decode()


def post_merge(client, case, **data):
    return client.post(reverse("ui:case_act", args=[case.number, "merge"]), data)


def test_a_sent_back_case_offers_no_duplicates_and_its_merge_is_refused(loop, client_for):
    parent = report(loop)
    case = report(loop, title="门口垃圾没人清", lng=POINT[0] + 0.0003)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="send_back", reason="不属于本部门")
    c = client_for(loop.dispatcher)
    html = detail(c, case)
    assert 'id="duplicates"' not in html and 'data-action="merge"' not in html
    assert 'data-action="dispatch"' in html  # back at 待派遣: dispatched again, not merged
    before = world_counts()
    response = post_merge(c, case, parent=parent.number, confirm="1")
    assert response.status_code == 409
    assert "只有尚未派遣过的案卷可以合并" in re.search(r"data-error>(.*?)</p>", response.content.decode()).group(1)
    assert world_counts() == before and Case.objects.get(pk=case.pk).status == Status.ACCEPTED


def test_a_case_on_hold_is_offered_and_merged_into_from_the_page(loop, client_for):
    parent = report(loop)
    act(actor=loop.dispatcher, case=parent, action="accept")
    act(actor=loop.dispatcher, case=parent, action="dispatch", department=loop.dept.pk)
    act(actor=loop.leader, case=parent, action="suspend", reason="纳入明年改造计划")
    case = report(loop, title="门口垃圾没人清", lng=POINT[0] + 0.0003)
    c = client_for(loop.dispatcher)
    section = re.search(r'<section class="card" id="duplicates">.*?</section>', detail(c, case), re.S).group(0)
    row = re.search(rf'<tr data-oid="{parent.pk}">.*?</tr>', section, re.S).group(0)
    assert "挂账" in row and f'data-merge-into="{parent.number}"' in row
    assert post_merge(c, case, parent=parent.number, confirm="1").status_code == 302
    case.refresh_from_db()
    assert case.status == Status.MERGED and case.parent_id == parent.pk


def test_the_follow_page_of_a_merged_report_shows_its_own_time_and_the_merge(loop, client):
    from datetime import timedelta

    from civicgrid.apps.cases.models import CaseReporter

    parent = report(loop)
    Case.objects.filter(pk=parent.pk).update(reported_at=parent.reported_at - timedelta(days=1))
    child = report(loop, title="门口垃圾没人清", actor=loop.resident, source="public")
    merged = act(actor=loop.dispatcher, case=child, action="merge", parent=parent.number)
    token = CaseReporter.objects.get(original_case=child).follow_token
    html = client.get(reverse("ui:follow", args=[token])).content.decode()
    shown = re.search(r"<dt>上报时间</dt><dd>(.*?)</dd>", html).group(1)
    assert shown == timezone.localtime(child.reported_at).strftime("%Y-%m-%d %H:%M")
    steps = re.findall(r'<li data-step="(\w+)">(.*?)</li>', html, re.S)
    assert [a for a, _ in steps] == ["report", "merge"]
    assert f'data-merged-into="{parent.number}">并入案卷 {parent.number}</span>' in steps[1][1]
    assert timezone.localtime(merged.ended_at).strftime("%Y-%m-%d %H:%M") in steps[1][1]


def test_a_merge_is_confirmed_before_it_happens(loop, client_for):
    """Each offered duplicate opens a form that says what a merge does and asks for a tick; the generic 合并
    form previews the parent first and asks for it there, and a post without it is refused with nothing
    changed."""
    parent = report(loop)
    case = report(loop, title="门口垃圾没人清", lng=POINT[0] + 0.0003)
    c = client_for(loop.dispatcher)
    html = detail(c, case)
    row = re.search(rf'<tr data-oid="{parent.pk}">.*?</tr>', html, re.S).group(0)
    form = re.search(rf'<form method="post" [^>]*data-merge-form="{parent.number}">.*?</form>', row, re.S).group(0)
    assert '<input type="checkbox" name="confirm" value="1" required>' in form and "合并不能撤销" in form
    generic = re.search(r'<form [^>]*data-action-form="merge">.*?</form>', html, re.S).group(0)
    assert 'name="preview"' in generic and 'name="confirm"' not in generic
    previewed = post_merge(c, case, parent=parent.number, preview="1").content.decode()
    confirm = re.search(rf'<form [^>]*data-merge-confirm-form="{parent.number}">.*?</form>', previewed, re.S).group(0)
    assert '<input type="checkbox" name="confirm" value="1" required>' in confirm and "合并不能撤销" in confirm

    before = world_counts()
    response = post_merge(c, case, parent=parent.number)
    assert response.status_code == 422
    assert "请先勾选确认" in re.search(r"data-error>(.*?)</p>", response.content.decode()).group(1)
    assert world_counts() == before and Case.objects.get(pk=case.pk).status == Status.REPORTED
    assert post_merge(c, case, parent=parent.number, confirm="1").status_code == 302
    assert Case.objects.get(pk=case.pk).status == Status.MERGED


def test_the_parent_lists_its_merged_cases_with_reporters_masked_in_a_fixed_number_of_queries(
        loop, client_for, django_assert_num_queries):
    parent = report(loop, reporter_name="王建国", reporter_phone="13800001111")
    first = report(loop, title="门口垃圾没人清", reporter_name="李大爷", reporter_phone="13912345678")
    grandchild = report(loop, title="垃圾堆了两天", reporter_name="赵敏", reporter_phone="13700002222")
    act(actor=loop.dispatcher, case=grandchild, action="merge", parent=first.number)
    act(actor=loop.dispatcher, case=first, action="merge", parent=parent.number)
    c = client_for(loop.leader)  # whoever reads the case file, not only intake
    html = detail(c, parent)
    section = re.search(r'<section class="card" id="merged-cases">.*?</section>', html, re.S).group(0)
    rows = re.findall(r'<tr data-oid="(\d+)">(.*?)</tr>', section, re.S)
    assert [int(pk) for pk, _ in rows] == [grandchild.pk, first.pk]  # in the order they joined
    reporters = [re.search(r"data-reporter>(.*?)</td>", r).group(1) for _, r in rows]
    assert reporters == ["赵* 137****2222", "李** 139****5678"]
    assert "李大爷" not in html and "13912345678" not in html and "已并入本案卷的案卷" in html
    assert 'id="merged-cases"' not in detail(c, first)

    queries = _count(c, parent)
    for i in range(3):
        act(actor=loop.dispatcher, case=report(loop, title=f"垃圾{i}", reporter_name="某人"), action="merge",
            parent=parent.number)
    with django_assert_num_queries(queries):
        html = detail(c, parent)
    assert len(re.findall(r'<tr data-oid="', re.search(r'id="merged-cases">.*?</section>', html, re.S).group(0))) == 5


def test_a_merged_report_of_a_grid_worker_names_the_worker(loop, client_for):
    """A grid worker's report carries no reporter name: its account is the reporter, named as on the timeline; a
    resident's account is masked like a name."""
    loop.worker.display_name = "网格员王五"
    loop.worker.save(update_fields=["display_name"])
    loop.resident.display_name = "居民孙小梅"
    loop.resident.save(update_fields=["display_name"])
    parent = report(loop)
    by_worker = report(loop, title="门口垃圾没人清")
    by_resident = report(loop, actor=loop.resident, title="垃圾堆了两天", source="public")
    for case in (by_worker, by_resident):
        act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number)
    html = detail(client_for(loop.dispatcher), parent)
    section = re.search(r'<section class="card" id="merged-cases">.*?</section>', html, re.S).group(0)
    reporters = dict((int(pk), re.search(r"data-reporter>(.*?)</td>", r).group(1).strip())
                     for pk, r in re.findall(r'<tr data-oid="(\d+)">(.*?)</tr>', section, re.S))
    assert reporters[by_worker.pk] == "网格员王五"
    assert reporters[by_resident.pk] == "居****" and "居民孙小梅" not in section


def _count(client, case) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        detail(client, case)
    return len(ctx)


def test_the_follow_page_of_a_report_merged_twice_shows_both_merges_and_where_it_is_handled(loop, client):
    from civicgrid.apps.cases.models import CaseReporter
    from civicgrid.apps.cases.tests.test_merge_rules import _merged_twice

    a, b, c = _merged_twice(loop)
    html = client.get(reverse("ui:follow", args=[CaseReporter.objects.get(original_case=a).follow_token]))
    html = html.content.decode()
    assert f"<strong data-number>{c.number}</strong>" in html and 'data-status="dispatched"' in html
    steps = re.findall(r'<li data-step="(\w+)">(.*?)</li>', html, re.S)
    assert [a for a, _ in steps] == ["report", "merge", "merge", "dispatch"]
    assert f'data-merged-into="{b.number}">并入案卷 {b.number}</span>' in steps[1][1]
    assert f'data-merged-into="{c.number}">并入案卷 {c.number}</span>' in steps[2][1]
