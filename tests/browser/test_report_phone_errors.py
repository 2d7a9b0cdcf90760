"""What a tester on a phone (390×844, touch, zh-CN) found on the report page and the case page:

- the phone's GPS is WGS-84 whatever 「坐标来自国内地图（GCJ-02）」 says: ticking the box does not move a point
  the GPS (or the map) gave; it applies to numbers typed by hand, and the grid line says where the point is;
- an error is brought into view and focused (the status line is at the top, the user at the button);
- a file that is no photo is named and left out when picked; one photo can be removed;
- 处置进展's photos are checked on the phone before a byte is sent;
- a point outside the district says how to give one inside it.
"""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import PHONE, _page, browser_db, purge_test_audit_rows, sign_in
from tests.browser.test_case_loop import GRID, district, photo  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]

# In GRID, 0.003° from the district's west edge: read as GCJ-02 it would lie ~600 m west, outside the district.
NEAR_EDGE = {"longitude": 113.2030, "latitude": 40.0100}
OUTSIDE = {"longitude": 116.397, "latitude": 39.909}
STATUS_IN_VIEW = """() => { const r = document.getElementById('report-status').getBoundingClientRect();
                            return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }"""


@pytest.fixture
def handset(browser, live_server):
    """Make a phone with its GPS at a given point; its script errors are collected in `errors`."""
    made = []

    def make(gps=NEAR_EDGE):
        context, pg = _page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2,
                            geolocation=gps, permissions=["geolocation"])
        pg.base_url = live_server.url
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        made.append(context)
        # The live server's first page can take long on a loaded machine (it starts cold): wait longer once.
        pg.goto(f"{pg.base_url}/accounts/login/", timeout=90_000)
        return pg

    yield make
    for context in made:
        context.close()
    purge_test_audit_rows()


def open_report(pg, state: str = "ok") -> None:
    sign_in(pg, "wang-wg")
    pg.goto(f"{pg.base_url}/cases/report/")
    pg.wait_for_selector(f"[data-located][data-state='{state}']")


def located(pg) -> tuple[str, str]:
    """The grid line's state once the page's lookup has settled, and its text."""
    pg.wait_for_function("() => ['ok', 'bad'].includes(document.querySelector('[data-located]').dataset.state)")
    line = pg.locator("[data-located]")
    return line.get_attribute("data-state"), line.inner_text()


def test_the_chinese_map_box_never_moves_a_gps_point_and_applies_to_typed_numbers(handset, district):
    from civicgrid.foundation.regions import crs

    pg = handset()
    open_report(pg)
    assert GRID in located(pg)[1]
    gps_numbers = (pg.input_value("input[name=lng]"), pg.input_value("input[name=lat]"))
    # ticked on a GPS point: the point stays WGS-84 in the same grid, and the page says the box is for typed numbers
    pg.check("[data-crs-gcj]")
    state, text = located(pg)
    assert state == "ok" and GRID in text and "不在本区范围内" not in text
    assert pg.input_value("input[name=crs]") == "wgs84"
    assert (pg.input_value("input[name=lng]"), pg.input_value("input[name=lat]")) == gps_numbers
    assert pg.locator("[data-crs-note]").is_visible()
    # 使用手机定位 with the box ticked: WGS-84, the box cleared
    pg.click("[data-use-gps]")
    pg.wait_for_selector("[data-located][data-state='ok']")
    assert pg.input_value("input[name=crs]") == "wgs84" and not pg.is_checked("[data-crs-gcj]")
    # numbers typed from a domestic map: the box makes them GCJ-02, and the line says they were converted
    lng, lat = crs.wgs84_to_gcj02(113.2100, 40.0100)
    pg.check("[data-crs-gcj]")
    pg.fill("input[name=lng]", f"{lng:.6f}")
    pg.fill("input[name=lat]", f"{lat:.6f}")
    pg.locator("input[name=lat]").dispatch_event("change")
    pg.wait_for_function("() => document.querySelector('[data-located]').innerText.includes('GCJ-02')")
    state, text = located(pg)
    assert state == "ok" and GRID in text and pg.input_value("input[name=crs]") == "gcj02"
    assert pg.locator("[data-crs-note]").is_hidden()
    # unticked: the same typed numbers read as WGS-84, asked again
    pg.uncheck("[data-crs-gcj]")
    pg.wait_for_function("() => !document.querySelector('[data-located]').innerText.includes('GCJ-02')")
    assert pg.input_value("input[name=crs]") == "wgs84"
    assert pg.errors == []


def test_a_report_from_the_phone_is_stored_where_the_gps_said_even_with_the_box_ticked(handset, district):
    from civicgrid.apps.cases.models import Case

    pg = handset()
    open_report(pg)
    pg.check("[data-crs-gcj]")
    located(pg)
    pg.select_option("select[name=category]", label="暴露垃圾")
    pg.click("button[data-submit]")
    pg.wait_for_selector("#report-done:not([hidden])")
    case = Case.objects.get(number=pg.locator("[data-done-number]").inner_text())
    assert case.lng == pytest.approx(NEAR_EDGE["longitude"], abs=1e-6) and case.grid.code == GRID


def test_an_error_at_the_button_is_brought_into_view_and_focused(handset, district):
    pg = handset()
    open_report(pg)
    # nothing chosen nor described: tapped at the bottom of the page
    pg.locator("button[data-submit]").scroll_into_view_if_needed()
    assert not pg.evaluate(STATUS_IN_VIEW)
    pg.locator("button[data-submit]").tap()
    pg.wait_for_function("() => document.getElementById('report-status').textContent.includes('请选择分类或填写描述')")
    assert pg.evaluate(STATUS_IN_VIEW)
    assert pg.evaluate("() => document.activeElement.id") == "report-status"
    assert pg.get_attribute("#report-status", "role") == "alert"


def test_a_retry_message_is_brought_into_view(handset, district):
    pg = handset()
    open_report(pg)
    pg.select_option("select[name=category]", label="暴露垃圾")
    pg.route("**/cases/report/submit/", lambda route: route.abort("connectionreset"))
    pg.locator("button[data-submit]").scroll_into_view_if_needed()
    pg.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    assert not pg.evaluate(STATUS_IN_VIEW)
    pg.locator("button[data-submit]").tap()
    pg.wait_for_function("() => document.getElementById('report-status').textContent.includes('网络不稳定')")
    assert pg.evaluate(STATUS_IN_VIEW)


def test_a_file_that_is_no_photo_is_named_and_left_out_and_one_photo_can_be_removed(handset, district, photo,
                                                                                   tmp_path):
    from PIL import Image

    from civicgrid.apps.cases.models import Case

    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"%PDF-1.4\n" + b"0" * 3000)
    png = tmp_path / "plain.png"
    Image.new("RGB", (80, 60), (20, 90, 160)).save(png, "PNG")
    pg = handset()
    open_report(pg)
    pg.select_option("select[name=category]", label="暴露垃圾")
    pg.set_input_files("input[name=photos]", [str(photo), str(fake), str(png)])
    pg.wait_for_function("() => document.getElementById('report-status').textContent.includes('fake.jpg')")
    text = pg.inner_text("#report-status")
    assert "不是照片" in text and "请换一张" in text and "site.jpg" not in text
    assert pg.locator("#thumbs-photos figure").count() == 2
    assert pg.locator("#thumbs-photos figure.broken").count() == 0
    # one photo removed with its own button: the other stays and is the one sent
    pg.locator("#thumbs-photos figure[data-photo-name='plain.png'] button[data-remove-photo]").tap()
    assert pg.locator("#thumbs-photos figure").count() == 1
    assert pg.get_attribute("#thumbs-photos figure", "data-photo-name") == "site.jpg"
    pg.click("button[data-submit]")
    pg.wait_for_selector("#report-done:not([hidden])")
    case = Case.objects.get(number=pg.locator("[data-done-number]").inner_text())
    assert case.attachments.count() == 1
    assert pg.errors == []


def test_a_point_outside_the_district_says_how_to_give_one_inside(handset, district):
    pg = handset(OUTSIDE)
    open_report(pg, state="bad")
    text = pg.inner_text("[data-located]")
    assert "不在本区范围内" in text and "请在地图上点选本区内的位置，或按地址选择" in text


def test_progress_photos_are_checked_on_the_phone_before_anything_is_sent(handset, district, photo, settings):
    from civicgrid.apps.cases.models import CaseStep, Status
    from civicgrid.apps.cases.services import act, submit_case
    from civicgrid.apps.cases.services.intake import default_source
    from civicgrid.apps.categories.models import Category

    settings.CIVICGRID_MAX_PHOTO_BYTES = 200_000
    case, _ = submit_case(actor=district["worker"], title="垃圾堆放", lng=113.21, lat=40.01,
                          category=Category.objects.get(code="06001"), source=default_source(district["worker"]))
    case = act(actor=district["dispatcher"], case=case, action="accept")
    case = act(actor=district["dispatcher"], case=case, action="dispatch", department=district["dept"].pk)
    case = act(actor=district["handler"], case=case, action="start")
    assert case.status == Status.HANDLING
    pg = handset()
    sign_in(pg, "li-cg")
    posts = []
    pg.on("request", lambda r: posts.append(r.url) if r.method == "POST" and "/progress/" in r.url else None)
    pg.goto(f"{pg.base_url}/cases/{case.number}/")
    pg.locator("details[data-action='progress'] summary").tap()
    form = pg.locator("form[data-action-form='progress']")
    big = {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xe0" + b"\0" * 300_000}
    fake = {"name": "fake.jpg", "mimeType": "image/jpeg", "buffer": b"%PDF-1.4 " + b"0" * 100}
    site = {"name": "site.jpg", "mimeType": "image/jpeg", "buffer": photo.read_bytes()}
    form.locator("input[name=photos]").set_input_files([big, fake, site])
    note = form.locator("[data-photo-note]")
    note.wait_for(state="visible")
    assert "huge.jpg" in note.inner_text() and "过大" in note.inner_text() and "fake.jpg" in note.inner_text()
    assert form.locator("input[name=photos]").evaluate("i => Array.from(i.files, f => f.name)") == ["site.jpg"]
    assert posts == []
    form.locator("textarea[name=note]").fill("已到现场")
    with pg.expect_navigation():
        form.locator("button[type=submit]").tap()
    step = CaseStep.objects.get(case=case, action="progress")
    assert step.attachments.count() == 1 and len(posts) == 1
    assert pg.errors == []
