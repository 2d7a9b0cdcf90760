"""Duplicates at intake (within 200 m: open and 挂账 cases however old, cases closed within 72 h of the report; the
same category, a component and its matter counting as one, or a related one with alike words) and merging that
keeps every reporter informed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases import duplicates
from civicgrid.apps.cases.models import Case, CaseReporter, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.categories.models import Category, CategoryKind
from civicgrid.foundation.notify.models import Notification, OutgoingMessage

from .conftest import POINT, auth, report, world_counts

pytestmark = pytest.mark.django_db

M_PER_DEG_LAT = 111_195  # metres per degree of latitude (mean Earth radius)


def north(metres: float) -> float:
    return POINT[1] + metres / M_PER_DEG_LAT


def test_candidates_are_open_nearby_cases_of_a_similar_category_best_first(loop):
    base = report(loop, title="小区门口垃圾堆放")
    near = report(loop, title="门口垃圾没人清", lat=north(50))
    nearer = report(loop, title="垃圾", lat=north(20), category=loop.sibling.pk)  # a sibling subclass
    far = report(loop, title="垃圾", lat=north(260))
    unrelated = report(loop, title="邻居吵架", lat=north(10), category=loop.other_cat.pk)
    old = report(loop, title="垃圾", lat=north(30))  # closed 80 h before `base` was reported
    Case.objects.filter(pk=old.pk).update(status=Status.CLOSED, closed_at=base.reported_at - timedelta(hours=80))
    voided = report(loop, title="垃圾", lat=north(40))
    Case.objects.filter(pk=voided.pk).update(status=Status.VOIDED, ended_at=base.reported_at)

    found = duplicates.candidates(base)
    assert [c.case.pk for c in found] == [nearer.pk, near.pk]  # the text first: `nearer` reads like `base`
    assert found[0].text_score > found[1].text_score and found[0].score > found[1].score
    assert 15 < found[0].distance_m < 25 and 45 < found[1].distance_m < 55
    assert found[1].text_score > 0
    # the window and radius are settings; a wider radius finds the far one, the unrelated class never
    wide = duplicates.candidates(base, radius_m=400)
    assert far.pk in [c.case.pk for c in wide] and unrelated.pk not in [c.case.pk for c in wide]
    assert old.pk in [c.case.pk for c in duplicates.candidates(base, hours=100)]
    # a point given without a case (the intake form before submitting)
    by_point = duplicates.candidates(lng=POINT[0], lat=north(45), category=loop.cat, at=base.reported_at)
    assert [c.case.pk for c in by_point] == [near.pk, base.pk]  # no words: the sibling is no tie by itself
    by_point = duplicates.candidates(lng=POINT[0], lat=north(45), category=loop.cat, at=base.reported_at,
                                     text="小区门口垃圾堆放")
    assert nearer.pk in [c.case.pk for c in by_point]


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
    before = world_counts()
    with pytest.raises(ValidationFailed, match="主案卷须为仍在办理或挂账的案卷，已结案"):
        act(actor=loop.dispatcher, case=a, action="merge", parent=b.number)
    assert world_counts() == before


def _gbt_class(loop, code: str, name: str, kind: str):
    return Category.objects.create(taxonomy=loop.cls.taxonomy, code=code, name=name, kind=kind)


def test_a_component_and_its_matter_are_offered_to_each_other(loop):
    """GB/T 47678.5 numbers a component and the matter "<component>异常" with one code: a leaning street tree
    reported under 行道树 (部件) and a 12345 ticket under 行道树异常 (事项) two metres away are one problem, each
    offered to the other by place and time alone (also when their words differ); a category of another taxonomy
    that happens to share the code is not its counterpart."""
    parts = _gbt_class(loop, "04", "园林绿化设施", CategoryKind.COMPONENT)
    matters = _gbt_class(loop, "04", "园林绿化设施类", CategoryKind.MATTER)
    tree = Category.objects.create(taxonomy=parts.taxonomy, code="04002", name="行道树", kind=CategoryKind.COMPONENT,
                                   parent=parts)
    tree_matter = Category.objects.create(taxonomy=parts.taxonomy, code="04002", name="行道树异常",
                                          kind=CategoryKind.MATTER, parent=matters)
    elsewhere = Category.objects.create(taxonomy=loop.other_cat.taxonomy, code="04002", name="本地分类",
                                        parent=loop.other_cat.parent)
    open_case = report(loop, title="行道树倾斜", description="", category=tree.pk)
    ticket = report(loop, actor=loop.dispatcher, source="hotline", title="行道树倾斜", description="",
                    category=tree_matter.pk, lat=north(2), hotline_ticket="12345-20261201-0001")
    other_words = report(loop, title="树枝挡住路灯", description="", category=tree_matter.pk, lat=north(30))
    report(loop, title="行道树倾斜", description="", category=elsewhere.pk, lat=north(3))

    assert [c.case.pk for c in duplicates.candidates(ticket)] == [open_case.pk, other_words.pk]
    assert [c.case.pk for c in duplicates.candidates(open_case)] == [ticket.pk, other_words.pk]
    assert duplicates.same_category(tree, tree_matter) and not duplicates.same_category(tree, elsewhere)


def test_the_directory_pairs_every_component_with_its_matter_and_nothing_else(loop):
    """Loaded from the directory: 路灯 (部件 01037) pairs with 路灯异常, not with 路灯井盖异常 (01006), whose case
    nearby is offered to a 路灯 report only when it reads alike."""
    from civicgrid.apps.categories.loaders import load_gbt47678

    load_gbt47678()
    gbt = Category.objects.filter(taxonomy__code="gbt47678_5_2026")
    lamp = gbt.get(kind=CategoryKind.COMPONENT, code="01037")
    lamp_matter = gbt.get(kind=CategoryKind.MATTER, code="01037")
    cover_matter = gbt.get(kind=CategoryKind.MATTER, code="01006")
    assert (lamp.name, lamp_matter.name, cover_matter.name) == ("路灯", "路灯异常", "路灯井盖异常")
    pairs = [(c, m) for c in gbt.filter(kind=CategoryKind.COMPONENT, parent__isnull=False)
             for m in gbt.filter(kind=CategoryKind.MATTER, parent__isnull=False, code=c.code)]
    assert len(pairs) == 153 and all(duplicates.same_category(c, m) for c, m in pairs)
    assert not duplicates.same_category(lamp, cover_matter)

    lamp_case = report(loop, title="路灯夜间不亮", description="连续三晚不亮", category=lamp.pk)
    ticket = report(loop, title="门口路灯坏了", description="晚上一片黑", category=lamp_matter.pk, lat=north(5))
    cover = report(loop, title="井盖松动", description="踩上去晃动", category=cover_matter.pk, lat=north(8))
    misfiled = report(loop, title="路灯夜间不亮", description="路灯连续几晚不亮", category=cover_matter.pk,
                      lat=north(10))
    found = {c.case.pk: c.text_score for c in duplicates.candidates(lamp_case)}
    assert set(found) == {ticket.pk, misfiled.pk} and found[ticket.pk] < 0.2  # the same category, other words
    assert found[misfiled.pk] >= 0.2 and cover.pk not in found  # a related category: only with alike words


def test_a_related_category_is_offered_only_when_its_words_are_alike(loop, settings):
    """A class holds dozens of matters: a full garbage box is no duplicate of a loose paving slab beside it
    (text similarity 0.00). The same category is offered by place and time alone; the bar is a setting."""
    paving = Category.objects.create(taxonomy=loop.cls.taxonomy, code="06013", name="道路破损", parent=loop.cls,
                                     kind=CategoryKind.MATTER)
    box = report(loop, title="垃圾箱满溢", description="垃圾溢出到地面，周边有异味。")
    slab = report(loop, title="人行道地砖松动破损", description="地砖翘起，老人走路容易绊倒。", category=paving.pk,
                  lat=north(20))
    heap = report(loop, title="垃圾箱旁垃圾堆满", description="垃圾溢出来了", category=loop.sibling.pk, lat=north(30))
    same = report(loop, title="小区门口有人乱扔", description="塑料袋", lat=north(40))  # the same category, other words

    found = {c.case.pk: c.text_score for c in duplicates.candidates(box)}
    assert set(found) == {heap.pk, same.pk}
    assert found[heap.pk] >= 0.2 and found[same.pk] < 0.2
    assert slab.pk not in found
    settings.CIVICGRID_DUPLICATE_MIN_TEXT = 0
    assert slab.pk in [c.case.pk for c in duplicates.candidates(box)]
    settings.CIVICGRID_DUPLICATE_MIN_TEXT = 0.9
    assert [c.case.pk for c in duplicates.candidates(box)] == [same.pk]


def _aged(case, **fields):
    """`case` as the tester found theirs: changed in the database (its age, status, flags), then read again."""
    Case.objects.filter(pk=case.pk).update(**fields)
    case.refresh_from_db()
    return case


def _the_tester_spot(loop):
    """An old open case (处置中, overdue and supervised, reported 9 days ago), an old one on hold (挂账), one closed
    10 h ago, one closed 5 days ago and one refused an hour ago, all at the spot; then a new report 17 m away."""
    now = timezone.now()
    stale = _aged(report(loop, title="垃圾站满溢"), reported_at=now - timedelta(days=9), status=Status.HANDLING,
                  is_overdue=True, is_supervised=True)
    held = _aged(report(loop, title="垃圾站满溢", lat=north(5)), reported_at=now - timedelta(days=40),
                 status=Status.SUSPENDED)
    lately = _aged(report(loop, title="垃圾站满溢", lat=north(8)), reported_at=now - timedelta(days=3),
                   status=Status.CLOSED, closed_at=now - timedelta(hours=10))
    long_ago = _aged(report(loop, title="垃圾站满溢", lat=north(9)), reported_at=now - timedelta(days=8),
                     status=Status.CLOSED, closed_at=now - timedelta(days=5))
    refused = _aged(report(loop, title="垃圾站满溢", lat=north(3)), status=Status.REFUSED,
                    ended_at=now - timedelta(hours=1))
    new = report(loop, title="垃圾站满溢", lat=north(17))
    return stale, held, lately, long_ago, refused, new


def test_an_open_case_is_offered_however_old_and_a_closed_one_only_within_the_window(loop):
    """The tester's case: an open case older than 72 h at the spot was not offered. Open and 挂账 cases are
    offered whatever their age, first; a case closed within the window (around the report's time) after them,
    not to merge into; one closed earlier, or refused, is not offered."""
    stale, held, lately, long_ago, refused, new = _the_tester_spot(loop)
    found = duplicates.candidates(new)
    assert {c.case.pk for c in found[:2]} == {stale.pk, held.pk} and all(c.joinable for c in found[:2])
    assert [c.case.pk for c in found[2:]] == [lately.pk] and not found[2].joinable
    assert 15 < next(c for c in found if c.case.pk == stale.pk).distance_m < 19
    # the window is a setting: five days reach the case closed five days ago; none leaves only the open ones
    assert long_ago.pk in [c.case.pk for c in duplicates.candidates(new, hours=5 * 24 + 1)]
    assert {c.case.pk for c in duplicates.candidates(new, hours=0)} == {stale.pk, held.pk}
    # the window is around the report's time, not now: a report made 6 days ago meets the case closed 5 days ago
    back = _aged(report(loop, title="垃圾站满溢", lat=north(20)), reported_at=timezone.now() - timedelta(days=6))
    assert {c.case.pk for c in duplicates.candidates(back)} == {stale.pk, held.pk, long_ago.pk, new.pk}
    assert refused.pk not in [c.case.pk for c in duplicates.candidates(new, hours=1000)]


def test_the_duplicates_endpoint_and_case_page_offer_the_old_open_case_to_merge(loop, api_client, client, settings):
    stale, held, lately, long_ago, refused, new = _the_tester_spot(loop)
    body = api_client.get(f"/api/v1/cases/{new.number}/duplicates", **auth(loop.dispatcher)).json()
    items = {i["number"]: i for i in body["items"]}
    assert set(items) == {stale.number, held.number, lately.number} and body["hours"] == 72
    assert items[stale.number]["joinable"] and items[held.number]["joinable"]
    assert items[stale.number]["closed_at"] is None
    assert not items[lately.number]["joinable"] and items[lately.number]["closed_at"]
    assert [i["joinable"] for i in body["items"]] == [True, True, False]  # the ones to merge into first

    client.force_login(loop.dispatcher)
    html = client.get(f"/cases/{new.number}/").content.decode()
    assert f'data-merge-form="{stale.number}"' in html and f'data-merge-form="{held.number}"' in html
    assert f'data-closed-candidate="{lately.number}"' in html and f'data-merge-form="{lately.number}"' not in html
    assert long_ago.number not in html and refused.number not in html
    assert "72 小时内结案" in html

    # the old open case takes the merge (the page's form, ticked)
    response = client.post(f"/cases/{new.number}/act/merge/", {"parent": stale.number, "confirm": "1",
                                                              "idempotency_key": "dup-old-1"})
    assert response.status_code == 302
    new.refresh_from_db()
    assert new.status == Status.MERGED and new.parent_id == stale.pk
