"""Duplicates at intake (200 m, 72 h, same or sibling category) and merging that keeps every reporter informed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from civicgrid.apps.cases import duplicates
from civicgrid.apps.cases.models import Case, CaseReporter, Status
from civicgrid.apps.cases.services import act
from civicgrid.foundation.notify.models import Notification, OutgoingMessage

from .conftest import POINT, auth, report

pytestmark = pytest.mark.django_db

M_PER_DEG_LAT = 111_195  # metres per degree of latitude (mean Earth radius)


def north(metres: float) -> float:
    return POINT[1] + metres / M_PER_DEG_LAT


def test_candidates_are_open_nearby_recent_cases_of_a_similar_category_nearest_first(loop):
    base = report(loop, title="小区门口垃圾堆放")
    near = report(loop, title="门口垃圾没人清", lat=north(50))
    nearer = report(loop, title="垃圾", lat=north(20), category=loop.sibling.pk)  # a sibling subclass
    far = report(loop, title="垃圾", lat=north(260))
    unrelated = report(loop, title="邻居吵架", lat=north(10), category=loop.other_cat.pk)
    old = report(loop, title="垃圾", lat=north(30))
    Case.objects.filter(pk=old.pk).update(reported_at=base.reported_at - timedelta(hours=80))
    closed = report(loop, title="垃圾", lat=north(40))
    Case.objects.filter(pk=closed.pk).update(status=Status.CLOSED)

    found = duplicates.candidates(base)
    assert [c.case.pk for c in found] == [nearer.pk, near.pk]
    assert 15 < found[0].distance_m < 25 and 45 < found[1].distance_m < 55
    assert found[1].text_score > 0
    # the window and radius are settings; a wider radius finds the far one, the unrelated class never
    wide = duplicates.candidates(base, radius_m=400)
    assert far.pk in [c.case.pk for c in wide] and unrelated.pk not in [c.case.pk for c in wide]
    assert old.pk in [c.case.pk for c in duplicates.candidates(base, hours=100)]
    # a point given without a case (the intake form before submitting)
    by_point = duplicates.candidates(lng=POINT[0], lat=north(45), category=loop.cat, at=base.reported_at)
    assert [c.case.pk for c in by_point][:2] == [near.pk, nearer.pk]


def test_similarity_is_a_character_bigram_cosine():
    assert duplicates.similarity("路边垃圾", "路边垃圾") == pytest.approx(1.0)
    assert duplicates.similarity("路边垃圾堆放", "垃圾堆放在路边") > 0.5
    assert duplicates.similarity("井盖缺失", "邻里纠纷") == 0.0
    assert duplicates.similarity("", "x") == 0.0


def test_duplicates_endpoint_is_scoped(loop, api_client):
    base = report(loop)
    near = report(loop, lat=north(30))
    body = api_client.get(f"/api/v1/cases/{base.number}/duplicates", **auth(loop.dispatcher)).json()
    assert [i["number"] for i in body["items"]] == [near.number] and body["radius_m"] == 200
    assert body["hours"] == 72
    hidden = api_client.get(f"/api/v1/cases/{base.number}/duplicates", **auth(loop.other_street_dispatcher))
    assert hidden.status_code == 404


def test_merge_moves_every_reporter_to_the_parent_and_keeps_them_informed(loop, api_client):
    parent = report(loop, reporter_phone="13811111111")
    child = report(loop, actor=loop.resident, source="public", lat=north(40), reporter_phone="13922222222")
    grandchild = report(loop, lat=north(60))
    act(actor=loop.dispatcher, case=grandchild, action="merge", parent=child.number)
    response = api_client.post(f"/api/v1/cases/{child.number}/actions/merge", {"parent": parent.number},
                               content_type="application/json", **auth(loop.dispatcher))
    assert response.status_code == 200 and response.json()["status"] == "merged"
    assert response.json()["parent_number"] == parent.number
    child.refresh_from_db()
    grandchild.refresh_from_db()
    assert child.parent == parent and grandchild.parent == parent
    assert CaseReporter.objects.filter(case=parent).count() == 3
    assert set(CaseReporter.objects.filter(case=parent).values_list("original_case", flat=True)) == {
        parent.pk, child.pk, grandchild.pk}
    assert parent.steps.filter(action="merged_in").count() == 1 == child.steps.filter(action="merged_in").count()

    # the parent changes status: every reporter hears of it (SMS to both phones, the resident's inbox)
    OutgoingMessage.objects.all().delete()
    act(actor=loop.dispatcher, case=parent, action="accept")
    masked = sorted(OutgoingMessage.objects.values_list("to_masked", flat=True))
    assert masked == ["138****1111", "139****2222"]
    assert all(parent.number in body for body in OutgoingMessage.objects.values_list("body", flat=True))
    assert Notification.objects.filter(user=loop.resident, kind="status", title__contains=parent.number).exists()
    # a merged child is final: no more actions on it, its link shows the parent
    token = CaseReporter.objects.get(original_case=child).follow_token
    follow = api_client.get(f"/api/v1/follow/{token}").json()
    assert follow["number"] == parent.number and follow["merged"] is True and follow["status"] == "accepted"


def test_someone_who_reported_twice_hears_once_and_only_the_newcomers_hear_of_the_merge(loop):
    """The grid worker reports the same problem twice with the same phone; a resident reports it too, from a
    landline. Merging tells the reporters who came with the duplicate, not the parent's own; later news reaches
    each account and each mobile once, and no SMS goes to a landline."""
    parent = report(loop, reporter_phone="13811111111")
    again = report(loop, lat=north(30), reporter_phone="13811111111")
    resident = report(loop, actor=loop.resident, source="public", lat=north(40), reporter_phone="0352-1234567")
    act(actor=loop.dispatcher, case=again, action="merge", parent=parent.number)
    OutgoingMessage.objects.all().delete()
    Notification.objects.all().delete()
    act(actor=loop.dispatcher, case=resident, action="merge", parent=parent.number)
    merged_news = Notification.objects.filter(body__contains="已与同一问题的案卷合并办理")
    assert list(merged_news.values_list("user", flat=True)) == [loop.resident.pk]
    assert not OutgoingMessage.objects.exists()  # the resident left a landline: called back, not texted
    act(actor=loop.dispatcher, case=parent, action="accept")
    assert list(OutgoingMessage.objects.values_list("to_masked", flat=True)) == ["138****1111"]
    status = Notification.objects.filter(kind="status", title__contains=parent.number, body__contains="已立案")
    assert sorted(status.values_list("user", flat=True)) == sorted([loop.worker.pk, loop.resident.pk])


def test_a_report_without_a_category_matches_by_its_words_only(loop):
    """Without a category every open case nearby was offered (text similarity 0.00): now only alike texts."""
    lamp = report(loop, title="路灯夜间不亮", description="小区门口路灯坏了，晚上很黑")
    report(loop, title="水果摊占用人行道", description="流动摊贩占道经营", lat=north(20))
    bare = report(loop, title="门口路灯不亮", description="小区门口的路灯晚上不亮，很黑", category=None, lat=north(30))
    found = [c.case.pk for c in duplicates.candidates(bare)]
    assert found == [lamp.pk]


def test_merge_refuses_a_closed_or_merged_parent_or_itself(loop):
    from civicgrid.foundation.core.errors import ValidationFailed

    a, b = report(loop), report(loop, lat=north(10))
    with pytest.raises(ValidationFailed, match="自身"):
        act(actor=loop.dispatcher, case=a, action="merge", parent=a.number)
    Case.objects.filter(pk=b.pk).update(status=Status.CLOSED)
    with pytest.raises(ValidationFailed, match="未办结"):
        act(actor=loop.dispatcher, case=a, action="merge", parent=b.number)
