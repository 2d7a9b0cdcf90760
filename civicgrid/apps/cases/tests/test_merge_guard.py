"""The tester's finding: a dispatcher merged a 暴露垃圾 report into a 非法小广告 case 400 m away already 处置中,
through the general merge form; the reporter was told "已与同一问题的案卷合并办理" (false), and a merge cannot be
undone. A parent the duplicate finder does not offer (another category, beyond the radius, unlike texts of a
related category) now takes the dispatcher's reason, kept on the step, the parent's timeline and the audit
trail; one farther than the merge limit (5 × the radius by default) is refused whatever the reason. Refused,
nothing changes. What the finder offers merges as before."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.test import override_settings

from civicgrid.apps.cases import conf, duplicates
from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act, merge_preview
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import text_mark
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import OutgoingMessage

from .conftest import POINT, auth, report, world_counts

pytestmark = pytest.mark.django_db

REASON = "同一块广告牌下堆放的垃圾，市民定位偏到了马路对面"


def east(metres: float) -> float:
    """The longitude `metres` east of POINT (along its parallel)."""
    return POINT[0] + math.degrees(metres / (duplicates.EARTH_RADIUS_M * math.cos(math.radians(POINT[1]))))


def handling(loop, case: Case) -> Case:
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    return act(actor=loop.handler, case=case, action="start")


@pytest.fixture
def adverts(loop) -> Category:
    cls = Category.objects.create(taxonomy=loop.cat.taxonomy, code="07", name="宣传广告类", kind=loop.cat.kind)
    return Category.objects.create(taxonomy=loop.cat.taxonomy, code="07001", name="非法小广告", parent=cls,
                                   kind=loop.cat.kind)


@pytest.fixture
def testers(loop, adverts):
    """The tester's two cases: a 非法小广告 case 400 m east already 处置中, and a 暴露垃圾 report at the point."""
    parent = handling(loop, report(loop, title="电线杆上贴满小广告", description="电线杆上贴满小广告", lng=east(400),
                                   category=adverts.pk))
    case = report(loop, title="路边暴露垃圾", description="小区门口垃圾堆放", actor=loop.resident, source="public")
    return case, parent


def test_the_testers_merge_is_refused_without_a_reason_and_changes_nothing(loop, testers):
    case, parent = testers
    before = world_counts()
    with pytest.raises(ValidationFailed) as refused:
        act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number)
    assert refused.value.status == 422 and refused.value.field == "reason"
    message = refused.value.message
    assert f"主案卷 {parent.number} 不在本案卷的疑似重复之列" in message and "请填写合并理由" in message
    assert "相距 400 米，超出查重范围 200 米" in message and "分类不同：「暴露垃圾」与「非法小广告」" in message
    assert "400 m apart, beyond the duplicate radius of 200 m" in message  # the English half, for the API
    assert world_counts() == before
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.parent_id is None
    assert not OutgoingMessage.objects.filter(body__contains="合并办理").exists()


def test_with_a_reason_the_merge_is_taken_and_the_reason_is_kept_everywhere(loop, testers):
    case, parent = testers
    act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number, reason=f"  {REASON} ")
    case.refresh_from_db()
    assert case.status == Status.MERGED and case.parent_id == parent.pk
    step = case.steps.get(action="merge")
    assert step.note == REASON
    assert step.data["not_offered"]["codes"] == ["distance", "category"]
    assert step.data["not_offered"]["distance_m"] == pytest.approx(400, abs=1)
    # The audit trail: what the finder found, and that a reason was given (its length and digest: the trail keeps
    # no free text, which may speak of people); the words are on the step, which the digest ties it to.
    entry = AuditEntry.objects.get(action="cases.merge", target_id=str(case.pk))
    assert entry.data["not_offered"]["codes"] == ["distance", "category"]
    assert entry.data["not_offered"]["reason"] == text_mark(REASON) and REASON not in str(entry.data)
    assert entry.data["step"] == step.pk
    joined = parent.steps.get(action="merged_in")
    assert REASON in joined.note and "不在疑似重复之列" in joined.note and joined.data["not_offered"] == [
        "distance", "category"]
    assert AuditEntry.objects.get(action="cases.merged_in", target_id=str(parent.pk)).data["not_offered"] == [
        "distance", "category"]
    event = OutboxEvent.objects.get(topic="case.merged")
    assert event.payload["not_offered"] == ["distance", "category"]


def test_what_the_finder_offers_merges_on_the_confirmation_alone(loop):
    parent = handling(loop, report(loop))
    case = report(loop, title="门口垃圾没人清", lng=east(30))
    assert [c.case.pk for c in duplicates.candidates(case)] == [parent.pk]
    preview = merge_preview(actor=loop.dispatcher, case=case, parent=parent.number)
    assert preview.fit.offered and not preview.needs_reason and not preview.too_far
    act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number)
    step = CaseStep.objects.get(case=case, action="merge")
    assert "not_offered" not in step.data and step.note == ""
    assert "not_offered" not in AuditEntry.objects.get(action="cases.merge", target_id=str(case.pk)).data


def test_an_open_case_is_offered_however_long_ago_it_was_reported(loop):
    """The finder's own rule (`duplicates`): an open case at the spot is the one a new report is about, however
    old; the time window is for closed cases, which cannot be merged into. So the preview says how far apart in
    time, and no reason is asked."""
    parent = handling(loop, report(loop))
    Case.objects.filter(pk=parent.pk).update(reported_at=parent.reported_at - timedelta(days=30))
    case = report(loop, title="门口垃圾没人清")
    preview = merge_preview(actor=loop.dispatcher, case=case, parent=parent.number)
    assert preview.fit.offered and preview.seconds_apart < -29 * 86400
    assert act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number).status == Status.MERGED


@pytest.mark.parametrize(("where", "category", "title", "codes"), [
    (300, "cat", "门口垃圾没人清", ["distance"]),  # the same category, beyond the radius
    (20, "other_cat", "邻居装修噪音扰民", ["category"]),  # another taxonomy at the same spot
    (20, "sibling", "路面有油污", ["text"]),  # the same class, texts unlike: the finder does not offer it
])
def test_each_rule_the_parent_fails_is_named(loop, where, category, title, codes):
    parent = handling(loop, report(loop, title=title, description=title, lng=east(where),
                                   category=getattr(loop, category).pk))
    case = report(loop)
    preview = merge_preview(actor=loop.dispatcher, case=case, parent=parent.number)
    assert preview.fit.codes == tuple(codes) and preview.needs_reason and not preview.too_far
    before = world_counts()
    with pytest.raises(ValidationFailed, match="请填写合并理由"):
        act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number, reason="   ")
    assert world_counts() == before
    act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number, reason=REASON)
    assert Case.objects.get(pk=case.pk).steps.get(action="merge").data["not_offered"]["codes"] == codes


def test_a_related_category_with_alike_texts_is_offered(loop):
    parent = handling(loop, report(loop, title="小区门口垃圾渣土堆放", category=loop.sibling.pk))
    case = report(loop, title="小区门口垃圾堆放")
    assert merge_preview(actor=loop.dispatcher, case=case, parent=parent.number).fit.offered


def test_a_parent_beyond_the_limit_is_refused_whatever_the_reason(loop, adverts):
    assert conf.merge_max_distance_m() == 1000  # 5 × the 200 m radius
    parent = handling(loop, report(loop, lng=east(1200)))
    case = report(loop, actor=loop.resident, source="public")
    preview = merge_preview(actor=loop.dispatcher, case=case, parent=parent.number)
    assert preview.too_far and preview.distance_m == pytest.approx(1200, abs=1)
    before = world_counts()
    with pytest.raises(ValidationFailed) as refused:
        act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number, reason=REASON)
    assert refused.value.status == 400 and refused.value.field == "parent"
    assert f"主案卷 {parent.number} 与本案卷相距 1200 米，超过合并的最大距离 1000 米，不能合并" in refused.value.message
    assert world_counts() == before
    # A district that sets its own limit: the same merge goes through with the reason.
    with override_settings(CIVICGRID_MERGE_MAX_DISTANCE_M=1500):
        act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number, reason=REASON)
    assert Case.objects.get(pk=case.pk).status == Status.MERGED


@pytest.mark.parametrize(("radius", "limit", "expected"), [
    (200, 0, 1000), (350, 0, 1750), (200, 600, 600), (200, 50, 200),  # never below the radius
])
def test_the_limit_follows_the_radius_unless_set(radius, limit, expected):
    with override_settings(CIVICGRID_DUPLICATE_RADIUS_M=radius, CIVICGRID_MERGE_MAX_DISTANCE_M=limit):
        assert conf.merge_max_distance_m() == expected


def test_a_supervised_report_merged_with_a_reason_still_carries_its_supervision(loop, testers):
    case, parent = testers
    act(actor=loop.leader, case=case, action="supervise", note="请尽快核实")
    act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number, reason=REASON)
    parent.refresh_from_db()
    assert parent.is_supervised
    carried = parent.steps.get(action="merged_supervision")
    assert carried.data["child"] == case.number and carried.data["supervisions"][0]["note"] == "请尽快核实"


def test_the_preview_refuses_what_the_merge_refuses_and_writes_nothing(loop, testers):
    case, parent = testers
    before = world_counts()
    preview = merge_preview(actor=loop.dispatcher, case=case, parent=parent.number)
    assert (preview.parent.pk, preview.needs_reason, preview.too_far) == (parent.pk, True, False)
    assert preview.seconds_apart <= 0  # the parent was reported first
    for number, message in (("2099", "主案卷不存在或不在您的范围内"), (case.number, "不能合并到自身"),
                            ("", "请填写主案卷号")):
        with pytest.raises(ValidationFailed, match=message):
            merge_preview(actor=loop.dispatcher, case=case, parent=number)
    with pytest.raises(PermissionDenied):  # a leader reads the case, but merges nothing
        merge_preview(actor=loop.leader, case=case, parent=parent.number)
    with pytest.raises(NotFound):  # outside the department's scope: as if it did not exist
        merge_preview(actor=loop.handler, case=case, parent=parent.number)
    assert world_counts() == before
    merged = report(loop)
    act(actor=loop.dispatcher, case=merged, action="merge", parent=parent.number, reason=REASON)
    with pytest.raises(Conflict, match="当前状态「已合并」不能执行"):  # the page's copy of it may still say 待受理
        merge_preview(actor=loop.dispatcher, case=merged, parent=parent.number)


def test_every_case_the_page_offers_merges_without_a_reason(loop):
    """What the finder offers and what the merge accepts on the confirmation alone are one rule."""
    for i, (metres, category, title) in enumerate([(0, "cat", "垃圾"), (150, "cat", "门口垃圾"), (180, "sibling",
                                                                                               "小区门口垃圾渣土")]):
        handling(loop, report(loop, title=f"{title}{i}", lng=east(metres), category=getattr(loop, category).pk))
    case = report(loop)
    offered = duplicates.candidates(case)
    assert len(offered) == 3
    for c in offered:
        assert merge_preview(actor=loop.dispatcher, case=case, parent=c.case.number).fit.offered


def test_the_api_takes_the_same_reason(loop, testers, api_client):
    case, parent = testers
    url = f"/api/v1/cases/{case.number}/actions/merge"
    headers = auth(loop.dispatcher)
    before = world_counts()
    r = api_client.post(url, {"parent": parent.number}, content_type="application/json", **headers)
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["code"] == "missing" and body["field"] == "reason" and "200 m" in body["detail"]
    assert world_counts() == before
    r = api_client.post(url, {"parent": parent.number, "reason": REASON}, content_type="application/json", **headers)
    assert r.status_code == 200, r.content
    assert r.json()["status"] == Status.MERGED
    assert Case.objects.get(pk=case.pk).steps.get(action="merge").note == REASON


def test_the_api_refuses_a_parent_too_far(loop, api_client):
    parent = handling(loop, report(loop, lng=east(1500)))
    case = report(loop)
    before = world_counts()
    r = api_client.post(f"/api/v1/cases/{case.number}/actions/merge", {"parent": parent.number, "reason": REASON},
                        content_type="application/json", **auth(loop.dispatcher))
    assert r.status_code == 400 and r.json()["field"] == "parent" and "1000 m" in r.json()["detail"]
    assert world_counts() == before
