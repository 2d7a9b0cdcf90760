"""Reporting from the pages: the phone page's JSON submit (idempotent retries), the located-grid preview, the
building picker, and the hotline and web desk forms."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.apps.cases.models import Case, CaseReporter, Source, Status
from civicgrid.apps.cases.tests.conftest import (  # noqa: F401
    GRID,
    OUTSIDE,
    POINT,
    jpeg,
    loop,
    world_counts,
)
from civicgrid.foundation.people.models import Building

pytestmark = pytest.mark.django_db


def photo(name="p.jpg", **kw):
    return SimpleUploadedFile(name, jpeg(**kw), content_type="image/jpeg")


def submit(client, key=None, **fields):
    data = {"idempotency_key": key or str(uuid.uuid4()), "category": "", "description": "小区门口垃圾堆放",
            "lng": str(POINT[0]), "lat": str(POINT[1]), "crs": "wgs84", "address": ""}
    data.update(fields)
    return client.post(reverse("ui:case_submit"), data)


def test_report_page_for_reporters_only(loop, client_for):
    from django.test import Client

    response = client_for(loop.worker).get(reverse("ui:case_report"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'capture="environment"' in html and 'accept="image/*"' in html and "data-self-handled" in html
    assert f'<option value="{loop.cat.pk}"' in html and f'<option value="{loop.other_cat.pk}"' in html
    assert f"/regions/{GRID}/children.geojson" in html
    assert "<script>" not in html  # CSP: no inline script (only nonce'd files and JSON data blocks)
    assert client_for(loop.handler).get(reverse("ui:case_report")).status_code == 403
    assert Client().get(reverse("ui:case_report")).status_code == 302
    # a resident reports too, without 自行处置 and without the staff-only categories
    loop.cat.is_public = True
    loop.cat.save()
    html = client_for(loop.resident).get(reverse("ui:case_report")).content.decode()
    assert f'<option value="{loop.cat.pk}"' in html and f'<option value="{loop.other_cat.pk}"' not in html
    assert "data-self-handled" not in html


def test_phone_submit_creates_one_case_and_a_retry_with_the_same_key_returns_it(loop, client_for):
    """The phone's first POST reached the server but its answer was lost; the page sends the same form with the
    same key again: one case, the second answer 200 with the same number."""
    c = client_for(loop.worker)
    key = str(uuid.uuid4())
    first = submit(c, key, category=str(loop.cat.pk), photos=[photo()])
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["created"] is True and body["number"] and body["grid"] == loop.tree[GRID].name
    assert body["url"] == reverse("ui:case_detail", args=[body["number"]])
    assert "/follow/" in body["follow_url"]
    again = submit(c, key, category=str(loop.cat.pk), photos=[photo()])
    assert again.status_code == 200 and again.json()["number"] == body["number"]
    assert again.json()["created"] is False and again.json()["follow_url"] == body["follow_url"]
    assert Case.objects.count() == 1
    case = Case.objects.get()
    assert case.title == "暴露垃圾：小区门口垃圾堆放" and case.source == Source.GRID_WORKER
    assert case.attachments.count() == 1 and case.status == Status.REPORTED
    # the page asks after a reload whether its draft's key already became a case
    status = c.get(reverse("ui:case_submit"), {"key": key}).json()
    assert status["found"] is True and status["number"] == body["number"]
    assert c.get(reverse("ui:case_submit"), {"key": str(uuid.uuid4())}).json() == {"found": False}
    # another account's key is not found: keys are bound to the account that sent them
    assert client_for(loop.neighbour_worker).get(reverse("ui:case_submit"), {"key": key}).json() == {"found": False}


def test_same_key_with_different_content_is_a_conflict(loop, client_for):
    c = client_for(loop.worker)
    key = str(uuid.uuid4())
    assert submit(c, key).status_code == 201
    before = world_counts()
    response = submit(c, key, description="另一件事")
    assert response.status_code == 409 and response.json()["field"] == "idempotency_key"
    assert world_counts() == before


def test_a_resend_with_the_same_photos_is_the_same_case_and_other_photos_are_a_conflict(loop, client_for):
    """What the phone page's draft relies on: a keyed report's digest covers its photos' bytes in their order,
    not their file names. The same photos sent again (read back from the phone's storage after a reload, or by
    another tab) answer with the same case; a photo left out or the order changed is another content (409),
    and nothing changes."""
    from civicgrid.apps.cases.models import Attachment

    c = client_for(loop.worker)
    key = str(uuid.uuid4())
    red, green = jpeg(color=(200, 10, 10)), jpeg(color=(10, 200, 10))

    def photos(*items):
        return [SimpleUploadedFile(name, data, content_type="image/jpeg") for name, data in items]

    first = submit(c, key, category=str(loop.cat.pk), photos=photos(("a.jpg", red), ("b.jpg", green)))
    assert first.status_code == 201, first.content
    again = submit(c, key, category=str(loop.cat.pk), photos=photos(("photo.jpg", red), ("photo.jpg", green)))
    assert again.status_code == 200 and again.json()["number"] == first.json()["number"]
    before, attachments = world_counts(), Attachment.objects.count()
    for other in (photos(("a.jpg", red)), photos(("b.jpg", green), ("a.jpg", red))):
        response = submit(c, key, category=str(loop.cat.pk), photos=other)
        assert response.status_code == 409 and response.json()["field"] == "idempotency_key"
    assert world_counts() == before and Attachment.objects.count() == attachments == 2


@pytest.mark.parametrize(
    ("fields", "status", "field", "text"),
    [
        ({"lng": "", "lat": ""}, 400, "location", "缺少位置"),
        ({"lng": str(OUTSIDE[0]), "lat": str(OUTSIDE[1])}, 400, "location", "不在本区范围内"),
        ({"category": "999999"}, 400, "category", "未知的事件分类"),
        ({"crs": "mars"}, 400, "crs", "不支持的坐标系"),
        # the page has no title: a NUL in the description (which the title is made from) names the description
        ({"description": "垃圾\x00堆放"}, 400, "description", "「描述」含有不可见的控制字符"),
        ({"category": "CAT", "description": "垃圾\x00堆放"}, 400, "description", "「描述」含有不可见的控制字符"),
    ],
)
def test_bad_reports_are_refused_with_a_chinese_message_and_nothing_changes(loop, client_for, fields, status,
                                                                            field, text):
    if fields.get("category") == "CAT":
        fields = {**fields, "category": str(loop.cat.pk)}
    before = world_counts()
    response = submit(client_for(loop.worker), **fields)
    assert response.status_code == status and response.json()["field"] == field
    assert text in response.json()["detail"] and "标题" not in response.json()["detail"]
    assert world_counts() == before


def test_not_an_image_is_refused(loop, client_for):
    before = world_counts()
    bad = SimpleUploadedFile("x.jpg", b"not an image at all", content_type="image/jpeg")
    response = submit(client_for(loop.worker), photos=[bad])
    assert response.status_code == 400 and "不是 JPEG" in response.json()["detail"]
    assert world_counts() == before


def test_gcj02_point_is_converted_and_recorded(loop, client_for):
    from civicgrid.foundation.regions import crs

    gcj = crs.wgs84_to_gcj02(*POINT)
    response = submit(client_for(loop.worker), lng=f"{gcj[0]:.7f}", lat=f"{gcj[1]:.7f}", crs="gcj02")
    assert response.status_code == 201
    case = Case.objects.get()
    assert case.crs_in == "gcj02" and abs(case.lng - POINT[0]) < 1e-5 and abs(case.lat - POINT[1]) < 1e-5


def test_self_handled_report_is_closed_with_before_and_after_photos(loop, client_for):
    response = submit(client_for(loop.worker), self_handled="1", category=str(loop.cat.pk),
                      photos_before=[photo("b.jpg")], photos_after=[photo("a.jpg", color=(10, 200, 10))])
    assert response.status_code == 201, response.content
    case = Case.objects.get()
    assert case.status == Status.CLOSED and case.is_self_handled and case.source == Source.SELF_HANDLED
    assert sorted(case.attachments.values_list("kind", flat=True)) == ["after", "before"]
    # without the 'after' photo it is refused
    response = submit(client_for(loop.worker), self_handled="1", category=str(loop.cat.pk),
                      photos_before=[photo("b.jpg")])
    assert response.status_code == 400 and response.json()["field"] == "photos"


def test_after_photos_on_a_report_that_is_not_self_handled_are_refused_and_nothing_is_created(loop, client_for):
    """Given a normal report (自行处置 not ticked) carrying a 处置后 photo (the section stayed visible after 继续上报),
    when it is sent, then it is refused with a message naming the rule, and no case, photo or step is made."""
    from civicgrid.apps.cases.models import Attachment

    before, photos_before = world_counts(), Attachment.objects.count()
    response = submit(client_for(loop.worker), category=str(loop.cat.pk), photos=[photo("p.jpg")],
                      photos_after=[photo("a.jpg", color=(10, 200, 10))])
    assert response.status_code == 400 and response.json()["field"] == "photos_after"
    assert "自行处置" in response.json()["detail"]
    assert world_counts() == before and Attachment.objects.count() == photos_before
    # the same report without the after photo goes through as an ordinary report
    response = submit(client_for(loop.worker), category=str(loop.cat.pk), photos=[photo("p.jpg")])
    assert response.status_code == 201
    assert list(Case.objects.get().attachments.values_list("kind", flat=True)) == ["photo"]


def test_locate_preview(loop, client_for):
    c = client_for(loop.worker)
    body = c.get(reverse("ui:case_locate"), {"lng": POINT[0], "lat": POINT[1]}).json()
    assert body["grid"]["code"] == GRID and body["street"]["code"] == "140213050"
    response = c.get(reverse("ui:case_locate"), {"lng": OUTSIDE[0], "lat": OUTSIDE[1]})
    assert response.status_code == 404 and "不在本区范围内" in response.json()["detail"]
    assert c.get(reverse("ui:case_locate"), {"lng": "x", "lat": "1"}).status_code == 400
    assert client_for(loop.handler).get(reverse("ui:case_locate"), {"lng": 1, "lat": 1}).status_code == 403


def test_building_picker_stays_in_base_data_scope(loop, client_for):
    tree = loop.tree
    mine = Building.objects.create(code="B1", address="幸福路1号", estate="幸福小区", grid=tree[GRID],
                                   region_code=GRID)
    Building.objects.create(code="B2", address="幸福路2号", grid=tree["140213051001001"],
                            region_code="140213051001001", lng=113.29, lat=40.01)
    body = client_for(loop.worker).get(reverse("ui:case_buildings"), {"q": "幸福"}).json()
    assert [b["id"] for b in body["items"]] == [mine.pk]
    centre = tree[GRID]
    assert (body["items"][0]["lng"], body["items"][0]["lat"]) == (centre.centroid_lng, centre.centroid_lat)
    # dispatchers have no base-data access: nothing, not an error
    assert client_for(loop.dispatcher).get(reverse("ui:case_buildings"), {"q": "幸福"}).json()["items"] == []


def test_hotline_form_records_the_caller_and_opens_the_case(loop, client_for):
    c = client_for(loop.dispatcher)
    page = c.get(reverse("ui:case_hotline"))
    assert page.status_code == 200
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.content.decode()).group(1)
    data = {"title": "噪音扰民", "description": "夜间施工", "category": loop.cat.pk, "address": "幸福路1号",
            "lng": POINT[0], "lat": POINT[1], "crs": "wgs84", "idempotency_key": key, "caller_name": "张先生",
            "callback_phone": "13912345678", "hotline_ticket": "12345-20260501-0001"}
    response = c.post(reverse("ui:case_hotline"), data)
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("ui:case_detail", args=[case.number])
    assert case.source == Source.HOTLINE and case.hotline_ticket == "12345-20260501-0001"
    assert case.reporter_phone_masked and "13912345678" not in case.reporter_phone_masked
    html = c.get(response["Location"]).content.decode()
    assert "13912345678" not in html and case.reporter_phone_masked in html and "张**" in html and "张先生" not in html
    # the same form sent twice (a double click) is one case
    assert c.post(reverse("ui:case_hotline"), data).status_code == 302
    assert Case.objects.count() == 1
    assert CaseReporter.objects.get().user_id is None  # the operator is not the caller
    # grid workers do not take hotline calls
    assert client_for(loop.worker).get(reverse("ui:case_hotline")).status_code == 403


def test_hotline_form_errors_are_shown_on_the_form(loop, client_for):
    c = client_for(loop.dispatcher)
    data = {"title": "噪音扰民", "lng": OUTSIDE[0], "lat": OUTSIDE[1], "crs": "wgs84", "idempotency_key": "k1",
            "hotline_ticket": "12345-20261201-0101", "callback_phone": "123"}
    before = world_counts()
    response = c.post(reverse("ui:case_hotline"), data)
    assert response.status_code == 400 and world_counts() == before
    html = response.content.decode()
    assert "手机号应为 11 位数字" in html and "a mobile number" not in html  # Chinese half only
    data["callback_phone"] = ""
    html = c.post(reverse("ui:case_hotline"), data).content.decode()
    assert "不在本区范围内" in html


def test_web_report_form(loop, client_for):
    c = client_for(loop.worker)
    page = c.get(reverse("ui:case_new")).content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    response = c.post(reverse("ui:case_new"), {"title": "路灯不亮", "source": "grid_worker", "lng": POINT[0],
                                               "lat": POINT[1], "crs": "wgs84", "idempotency_key": key,
                                               "photos": photo()})
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.title == "路灯不亮" and case.attachments.count() == 1 and case.reporter_id == loop.worker.pk


def live_suggestion(loop, category):
    return {"label": "区城管局", "confidence": 1.0, "model_version": "t1", "department_id": loop.dept.pk,
            "department": "区城管局", "category_id": category.pk, "category": category.name,
            "top3": [{"label": "区城管局", "confidence": 1.0, "department": "区城管局", "category": category.name},
                     {"label": "区住建局", "confidence": 0.0, "department": "区住建局", "category": None},
                     {"label": "区水务局", "confidence": 0.0, "department": "区水务局", "category": None}]}


ROUTING_DETAILS = ("data-suggested-department", "区城管局", "置信度", "100%", "data-top3", "阈值",
                   "data-department-id", "data-confidence")


def test_live_suggestion_shows_routing_details_only_to_those_who_dispatch(loop, client_for, monkeypatch):
    """Given a router that names a department with full confidence, when a resident, a volunteer-like reporter
    (the grid worker) and a dispatcher type a report, then only the dispatcher sees department, confidence, the
    top three and the threshold; a reporter sees the suggested category, and only one they may report under."""
    loop.cat.is_public = True
    loop.cat.save()
    wanted = {"category": loop.cat}
    monkeypatch.setattr("civicgrid.integrations.router.suggest", lambda text: live_suggestion(loop, wanted["category"]))
    url = reverse("ui:router_suggest")

    staff = client_for(loop.dispatcher).get(url, {"description": "垃圾"}).content.decode()
    assert all(detail in staff for detail in ROUTING_DETAILS)

    for reporter in (loop.resident, loop.worker):
        body = client_for(reporter).get(url, {"description": "垃圾"}).content.decode()
        assert not [detail for detail in ROUTING_DETAILS if detail in body], body
        assert f'data-use-suggested-category="{loop.cat.pk}"' in body and loop.cat.name in body

    # a staff-only category is not offered to a resident (their form has no such option)
    wanted["category"] = loop.other_cat
    body = client_for(loop.resident).get(url, {"description": "垃圾"}).content.decode()
    assert "data-suggestion" not in body and loop.other_cat.name not in body
    assert "data-suggestion-none" not in body


def test_suggestion_heading_uses_the_languages_punctuation(loop, client_for, monkeypatch):
    monkeypatch.setattr("civicgrid.integrations.router.suggest", lambda text: live_suggestion(loop, loop.cat))
    c = client_for(loop.dispatcher)
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    body = c.get(reverse("ui:router_suggest"), {"description": "垃圾"}).content.decode()
    assert "Smart routing suggestion</strong>: " in body and "：" not in body


def test_the_follow_link_is_worded_for_who_reported(loop, client_for):
    """A resident's link is their own to keep; staff forward theirs to the person who raised the problem."""
    resident = client_for(loop.resident).get(reverse("ui:case_report")).content.decode()
    assert "您的查询进度与评价链接" in resident and "可转发给反映问题的群众" not in resident
    worker = client_for(loop.worker).get(reverse("ui:case_report")).content.decode()
    assert "可转发给反映问题的群众" in worker and "您的查询进度与评价链接" not in worker


def test_outside_the_district_names_the_point_in_english_too(loop, client_for):
    c = client_for(loop.worker)
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    body = c.get(reverse("ui:case_locate"), {"lng": OUTSIDE[0], "lat": OUTSIDE[1]}).json()["detail"]
    assert "outside the district" in body and "longitude 112.000000, latitude 39.000000, WGS-84" in body
    before = world_counts()
    response = submit(c, lng=str(OUTSIDE[0]), lat=str(OUTSIDE[1]))
    assert response.status_code == 400 and world_counts() == before
    assert "longitude 112.000000, latitude 39.000000" in response.json()["detail"]
