"""The router in the pages: the live suggestion on the hotline form, the case page's suggestion and pre-filled
dispatch form, corrections recorded and counted, the triage queue, the management page (retrain button,
activate/roll back), place from text on the intake form, all with the made-up example model."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import NEIGHBOUR_POINT, POINT, report
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events import bus
from civicgrid.foundation.people.models import Place
from civicgrid.integrations.router import versions
from civicgrid.integrations.router.models import RetrainRun, RouterCorrection, RouterModelVersion
from civicgrid.testing.builders import user_with

from .test_product import CITY, _closed

pytestmark = pytest.mark.django_db
GRID = "140213050001001"


def signed_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def live(loop, example_model, settings):
    """The example model active; auto-dispatch off unless a test turns it on."""
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.01
    return versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)


def hotline_form(**overrides) -> dict:
    data = {"hotline_ticket": "12345-0001", "caller_name": "张先生", "callback_phone": "13812345678",
            "title": "路边暴露垃圾", "description": CITY, "address": "", "lng": str(POINT[0]), "lat": str(POINT[1]),
            "crs": "wgs84", "category": "", "idempotency_key": uuid.uuid4().hex}
    data.update(overrides)
    return data


def test_hotline_form_asks_for_the_live_suggestion_and_shows_it(loop, live):
    c = signed_in(loop.dispatcher)
    page = c.get("/cases/hotline/").content.decode()
    assert 'hx-get="/router/suggest/"' in page and "from:#id_description" in page and "router-suggest.js" in page
    r = c.get("/router/suggest/", {"title": "路边暴露垃圾", "description": CITY})
    body = r.content.decode()
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    assert 'data-suggested-department>区城管局<' in body and "置信度" in body and "%" in body
    assert body.count("<li>") >= 3  # the top three
    assert c.get("/router/suggest/").content.decode().strip() == ""  # nothing typed yet: nothing shown
    # the web form and the grid worker's phone page ask too
    assert 'hx-get="/router/suggest/"' in c.get("/cases/new/").content.decode()
    phone = signed_in(loop.worker)
    assert 'hx-get="/router/suggest/"' in phone.get("/cases/report/").content.decode()
    shown = phone.get("/router/suggest/", {"description": CITY}).content.decode()
    assert "区城管局" not in shown and "置信度" not in shown  # routing is the dispatcher's; the worker sees the category
    # a resident may not ask
    assert signed_in(loop.handler).get("/router/suggest/", {"title": "x"}).status_code == 403


def test_without_a_model_the_form_says_there_is_no_suggestion(loop):
    body = signed_in(loop.dispatcher).get("/router/suggest/", {"title": "路边垃圾"}).content.decode()
    assert "data-suggestion-none" in body


def test_hotline_case_shows_the_suggestion_and_dispatch_is_prefilled_from_it(loop, live):
    c = signed_in(loop.dispatcher)
    r = c.post("/cases/hotline/", hotline_form())
    assert r.status_code == 302
    case = Case.objects.get()
    assert case.suggestion["department_id"] == loop.dept.pk
    if not case.category_id:  # 立案 names the category when the caller's report had none
        accept = c.get(r["Location"]).content.decode()
        accept = accept[accept.index('data-action-form="accept"'):]
        assert 'name="category"' in accept[:accept.index("</form>")] and "required" in accept[:accept.index("</form>")]
    act(actor=loop.dispatcher, case=case, action="accept", **({} if case.category_id else {"category": loop.cat.pk}))
    page = c.get(r["Location"]).content.decode()
    assert "data-router-panel" in page and 'data-suggested-department>区城管局<' in page
    form = page[page.index('data-action-form="dispatch"'):]
    form = form[:form.index("</form>")]
    assert re.search(rf'<option value="{loop.dept.pk}" selected>', form)
    # grid workers see the case, not the router's panel
    assert "data-router-panel" not in signed_in(loop.worker).get(r["Location"]).content.decode()


def test_a_dispatchers_correction_is_recorded_and_counted(loop, live):
    agreed = report(loop, title="路边暴露垃圾", description=CITY)
    corrected = report(loop, title="垃圾堆放", description=CITY)
    for case, dept in ((agreed, loop.dept), (corrected, loop.other_dept)):
        act(actor=loop.dispatcher, case=case, action="accept")
        act(actor=loop.dispatcher, case=case, action="dispatch", department=dept.pk)
    bus.dispatch_pending()
    bus.dispatch_pending()  # delivered again: still one row
    row = RouterCorrection.objects.get()
    assert row.case == corrected and row.department_changed and row.suggested_department_id == loop.dept.pk
    assert row.department_id_chosen == loop.other_dept.pk and row.model_version == live.version
    assert row.actor == loop.dispatcher
    page = signed_in(loop.dispatcher).get("/router/").content.decode()
    assert 'data-corrections="1"' in page
    detail = signed_in(loop.dispatcher).get(f"/cases/{corrected.number}/").content.decode()
    assert "data-corrected" in detail


def test_a_redirect_away_from_the_suggestion_is_a_correction(loop, live):
    """改派 is the strongest sign the first department was wrong: the router learns it as it learns a differing
    dispatch, once however often the event is delivered."""
    case = report(loop, title="路边暴露垃圾", description=CITY)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)  # as the router said
    bus.dispatch_pending()
    assert not RouterCorrection.objects.exists()
    act(actor=loop.dispatcher, case=case, action="redirect", department=loop.other_dept.pk, reason="不归城管管")
    bus.dispatch_pending()
    bus.dispatch_pending()  # delivered again: still one row
    row = RouterCorrection.objects.get()
    step = case.steps.get(action="redirect")
    assert row.step_id == step.pk and row.case == case and row.department_changed
    assert row.suggested_department_id == loop.dept.pk and row.department_id_chosen == loop.other_dept.pk
    assert row.model_version == live.version and row.actor == loop.dispatcher
    assert 'data-corrections="1"' in signed_in(loop.dispatcher).get("/router/").content.decode()


def test_auto_dispatched_case_is_flagged_on_its_page(loop, live, settings):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    case = report(loop, title="路边暴露垃圾", description=CITY)
    bus.dispatch_pending()
    case.refresh_from_db()
    assert case.auto_dispatched and case.status == Status.DISPATCHED
    page = signed_in(loop.dispatcher).get(f"/cases/{case.number}/").content.decode()
    assert "data-auto-dispatched" in page and "自动派遣：模型" in page and "智能分拨（系统）" in page
    assert not RouterCorrection.objects.exists()  # the system's own dispatch is no correction


def test_triage_page_lists_what_auto_dispatch_left(loop, live, settings):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.99
    vague = report(loop, title="有点事", description="不知道找谁", lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1])
    confident = report(loop, title="路边暴露垃圾", description=CITY)
    Case.objects.filter(pk=vague.pk).update(suggestion={**vague.suggestion, "confidence": 0.41})
    Case.objects.filter(pk=confident.pk).update(suggestion={**confident.suggestion, "confidence": 0.995})
    page = signed_in(loop.dispatcher).get("/router/triage/").content.decode()
    assert vague.number in page and "41%" in page and confident.number not in page
    assert confident.number in signed_in(loop.dispatcher).get("/router/triage/?all=1").content.decode()
    bus.dispatch_pending()  # the confident one is dispatched by the system account and leaves the queue
    assert confident.number not in signed_in(loop.dispatcher).get("/router/triage/?all=1").content.decode()
    # another street's dispatcher sees none of them; a grid worker may not open the queue
    other = signed_in(loop.other_street_dispatcher).get("/router/triage/?all=1").content.decode()
    assert vague.number not in other and confident.number not in other
    assert signed_in(loop.worker).get("/router/triage/").status_code == 403


def test_router_page_retrains_from_closed_cases_and_rolls_back(loop, live):
    for title in ("路边暴露垃圾", "垃圾桶满溢"):
        _closed(loop, title, "垃圾没人清运", loop.dept, loop.handler)
    for title in ("楼道墙皮脱落", "危房墙体开裂"):
        _closed(loop, title, "墙体开裂漏水", loop.other_dept, loop.other_handler)
    c = signed_in(loop.dispatcher)
    page = c.get("/router/").content.decode()
    assert live.version in page and "macro-F1" in page and "data-retrain" in page and 'data-threshold="1.01"' in page
    r = c.post("/router/retrain/", {"activate": "1"})
    assert r.status_code == 302
    run = RetrainRun.objects.get()
    assert run.state == RetrainRun.State.DONE and run.version.is_active and run.requested_by == loop.dispatcher
    new = RouterModelVersion.objects.get(is_active=True)
    assert new != live and new.n_samples == 4 and new.metrics["cv"]["per_class_f1"]
    status = c.get(f"/router/runs/{run.pk}/").content.decode()
    assert 'data-state="done"' in status and "hx-trigger" not in status and new.version in status
    page = c.get("/router/").content.decode()
    assert f'data-activate="{live.version}"' in page and "回滚到此版本" in page
    # roll back to the previous version: audited, live again
    assert c.post(f"/router/versions/{live.pk}/activate/").status_code == 302
    assert RouterModelVersion.objects.get(is_active=True) == live
    entry = AuditEntry.objects.filter(action="router.activate").latest("pk")
    assert entry.data["previous"] == new.version and entry.data["rollback"] is True
    assert c.post("/router/versions/999999/activate/").status_code == 404


def test_router_page_refuses_without_router_manage_and_without_enough_cases(loop, live):
    worker = signed_in(loop.worker)
    assert worker.get("/router/").status_code == 403
    assert worker.post("/router/retrain/").status_code == 403
    assert worker.post(f"/router/versions/{live.pk}/activate/").status_code == 403
    r = signed_in(loop.dispatcher).post("/router/retrain/")
    assert r.status_code == 400 and "已结案事件不足以训练" in r.content.decode()
    assert not RetrainRun.objects.exists() and RouterModelVersion.objects.count() == 1
    admin = signed_in(user_with(Role.SYSTEM_ADMIN, region=loop.tree["140213"], username="sa"))
    page = admin.get("/router/")
    # The system administrator manages the model, not the dispatchers' queue: no link to a page they can't open.
    assert page.status_code == 200 and 'data-link="triage"' not in page.content.decode()
    assert admin.get("/router/triage/").status_code == 403
    assert 'data-link="triage"' in signed_in(loop.dispatcher).get("/router/").content.decode()


def test_hotline_report_without_a_point_gets_the_place_its_text_names(loop, live):
    grid = loop.tree[GRID]
    Place.objects.create(name="永泰公园", kind="park", grid=grid, region_code=grid.code, lng=POINT[0] + 0.001,
                         lat=POINT[1] + 0.001)
    c = signed_in(loop.dispatcher)
    # live: the form's fragment lists the place for the map
    body = c.get("/router/suggest/", {"title": "永泰公园东门垃圾", "description": ""}).content.decode()
    assert 'data-name="永泰公园"' in body and f'data-grid="{GRID}"' in body
    # submitted without a point: the form comes back with the place proposed, nothing written yet
    data = hotline_form(title="永泰公园东门垃圾成堆", lng="", lat="")
    r = c.post("/cases/hotline/", data)
    page = r.content.decode()
    assert r.status_code == 400 and "永泰公园" in page and "data-proposal" in page and not Case.objects.exists()
    lng = re.search(r'name="lng" value="([0-9.]+)"', page).group(1)
    lat = re.search(r'name="lat" value="([0-9.]+)"', page).group(1)
    # the operator confirms (the same form, now with the point): the case is in the place's grid
    r = c.post("/cases/hotline/", {**data, "lng": lng, "lat": lat})
    assert r.status_code == 302 and Case.objects.get().grid.code == GRID
    # no place named, no point: the service's own error
    r = c.post("/cases/hotline/", hotline_form(title="有人反映问题", description="", lng="", lat=""))
    assert r.status_code == 400 and "data-proposal" not in r.content.decode() and Case.objects.count() == 1


@pytest.mark.parametrize("end", ["close", "refuse", "void", "merge"])
def test_the_panel_is_gone_once_the_case_has_ended(loop, live, end):
    case = report(loop, title="路边暴露垃圾", description=CITY)
    c = signed_in(loop.dispatcher)
    assert "data-router-panel" in c.get(f"/cases/{case.number}/").content.decode()  # still to be routed
    if end == "close":
        case = _closed(loop, "垃圾桶满溢", CITY, loop.dept, loop.handler)
        assert case.status == Status.CLOSED and case.suggestion
    elif end == "merge":
        parent = report(loop, title="路边垃圾", description=CITY)
        case = act(actor=loop.dispatcher, case=case, action="merge", parent=parent.number)
    else:
        case = act(actor=loop.dispatcher, case=case, action=end, reason="重复或不属实")
    assert case.status in {Status.CLOSED, Status.REFUSED, Status.VOIDED, Status.MERGED}
    page = c.get(f"/cases/{case.number}/").content.decode()
    assert "data-router-panel" not in page and "模型建议部门" not in page
