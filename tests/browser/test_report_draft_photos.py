"""The phone report page's draft keeps its photos (IndexedDB): a failed send survives a reload with them, the
report goes once with exactly those photos, a second tab holds the same photos and makes no second case, and
the photos leave the phone when the report is accepted or the draft discarded."""
# ruff: noqa: F811  (the loop's fixtures, imported so pytest finds them here)

from __future__ import annotations

import os
import re

import pytest

from civicgrid.testing.browser import browser_db, sign_in
from tests.browser.test_case_loop import GPS, district  # noqa: F401

pytestmark = [pytest.mark.browser, browser_db]

SUBMIT = re.compile(r".*/cases/report/submit/$")  # the POST only: the status check carries ?key=
STATUS_CHECK = re.compile(r".*/cases/report/submit/\?key=.*")
COUNT_STORED = """() => indexedDB.databases().then((dbs) => {
    if (!dbs.some((d) => d.name === "civicgrid-report-photos")) return 0;
    return new Promise((resolve, reject) => {
        const req = indexedDB.open("civicgrid-report-photos");
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
            const db = req.result;
            const count = db.transaction("photos").objectStore("photos").count();
            count.onsuccess = () => { db.close(); resolve(count.result); };
        };
    });
})"""


def jpeg(path, color, size=(320, 240), noise=False):
    from PIL import Image

    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, color)
        image.paste((60, 140, 60), (40, 100, 120, 140))
    image.save(path, "JPEG", quality=95)
    return path


@pytest.fixture
def site_photos(tmp_path):
    """Two different small phone pictures of the site."""
    return [jpeg(tmp_path / "site-1.jpg", (150, 120, 90)), jpeg(tmp_path / "site-2.jpg", (90, 120, 150))]


def open_report(pg) -> None:
    pg.goto(f"{pg.base_url}/cases/report/")
    pg.wait_for_selector("[data-located][data-state='ok']")


def start_report(pg, photos) -> None:
    open_report(pg)
    pg.select_option("select[name=category]", label="暴露垃圾")
    pg.fill("textarea[name=description]", "小区门口垃圾堆放")
    if photos:
        add_photos(pg, photos)


def add_photos(pg, photos) -> None:
    pg.set_input_files("input[name=photos]", [str(p) for p in photos])
    wait_stored(pg, len(photos))


def thumbs(pg, count: int) -> None:
    pg.wait_for_function(f"() => document.querySelectorAll('#thumbs-photos img').length === {count}")


def wait_stored(pg, count: int) -> None:
    pg.wait_for_function(f"() => ({COUNT_STORED})().then((n) => n === {count})", polling=100)


def stored(pg) -> int:
    return pg.evaluate(COUNT_STORED)


def draft_of(pg):
    return pg.evaluate("() => JSON.parse(localStorage.getItem(Object.keys(localStorage)"
                       ".find((k) => k.startsWith('civicgrid.report.draft.')) || 'null'))")


def send(pg, answers):
    pg.on("response", lambda r: answers.append(r.status) if SUBMIT.match(r.url) else None)
    pg.click("button[data-submit]")
    pg.wait_for_selector("#report-done:not([hidden])", timeout=20_000)
    return pg.locator("[data-done-number]").inner_text()


def fail_sending(pg) -> None:
    """The report's POST never reaches the server (the connection drops); the page retries."""
    pg.route(SUBMIT, lambda route: route.abort("internetdisconnected"))
    pg.click("button[data-submit]")
    pg.wait_for_selector("#report-status.sending:has-text('自动重试')")


def photo_digests(paths) -> list:
    """What the server stores of each photo (re-encoded): the case's attachments are these, in this order."""
    from civicgrid.foundation.core.photos import read_photo

    return [read_photo(p.read_bytes()).sha256 for p in paths]


def test_photos_of_a_draft_that_could_not_be_sent_are_back_after_a_reload_and_go_once(phone, district, site_photos):
    """Given a report with two photos whose sending fails, when the page is reloaded, then the draft comes back
    with its two photos (thumbnails and the file input); sent once the network is back, it makes exactly one
    case with those two photos, and the draft and its photos are gone from the phone."""
    from civicgrid.apps.cases.models import Case

    sign_in(phone, "wang-wg")
    start_report(phone, site_photos)
    key = phone.input_value("input[name=idempotency_key]")
    fail_sending(phone)

    phone.reload()
    phone.wait_for_selector("[data-located][data-state='ok']")
    thumbs(phone, 2)
    assert phone.input_value("input[name=idempotency_key]") == key
    assert phone.evaluate("document.querySelector('input[name=photos]').files.length") == 2
    phone.wait_for_selector("#report-status:has-text('已恢复未提交的草稿')")
    assert "照片" not in phone.locator("#report-status").inner_text()  # nothing to add again
    assert stored(phone) == 2 and Case.objects.count() == 0

    phone.unroute(SUBMIT)
    answers = []
    number = send(phone, answers)
    assert answers == [201]
    case = Case.objects.get()
    assert case.number == number
    assert list(case.attachments.order_by("pk").values_list("sha256", flat=True)) == photo_digests(site_photos)
    wait_stored(phone, 0)
    assert draft_of(phone) is None
    assert phone.errors == []


def test_a_restored_draft_whose_first_attempt_made_the_case_is_answered_with_that_case(phone, district, site_photos):
    """Given a report with photos whose first attempt reached the server (the case was made) but whose answer
    was lost, when the page is reloaded without learning that and the draft is sent again, then the server
    answers with the same case (200, not a 409 for different photos): one case, the same photos."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from civicgrid.apps.cases.models import Case

    sign_in(phone, "wang-wg")
    start_report(phone, site_photos)
    fail_sending(phone)
    # The lost first attempt, as the server received it: the page's own fields, the same photo bytes.
    fields = phone.evaluate("""() => Object.fromEntries([...new FormData(document.querySelector('form[data-report]'))]
        .filter(([, value]) => typeof value === 'string'))""")
    client = Client()
    client.force_login(district["worker"])
    first = client.post("/cases/report/submit/", {
        **fields, "photos": [SimpleUploadedFile(p.name, p.read_bytes(), "image/jpeg") for p in site_photos]})
    assert first.status_code == 201

    phone.route(STATUS_CHECK, lambda route: route.abort("internetdisconnected"))  # the check after the reload fails
    phone.reload()
    phone.wait_for_selector("#report-status:has-text('已恢复未提交的草稿')")
    thumbs(phone, 2)
    phone.unroute(SUBMIT)
    answers = []
    number = send(phone, answers)
    assert answers == [200]
    assert number == first.json()["number"]
    assert phone.locator("[data-done-title]").inner_text() == "上报成功（重试的提交已合并为同一案卷）"
    case = Case.objects.get()
    assert list(case.attachments.order_by("pk").values_list("sha256", flat=True)) == photo_digests(site_photos)
    wait_stored(phone, 0)
    assert phone.errors == []


def test_a_second_tab_opened_on_a_draft_with_photos_sends_the_same_case(phone, district, site_photos):
    """Given a draft with two photos in tab A, when tab B is opened, then B shows the same draft with the same
    photos; sent from both, it is one case with those photos (B is answered with A's case)."""
    from civicgrid.apps.cases.models import Case

    tab_a = phone
    sign_in(tab_a, "wang-wg")
    start_report(tab_a, site_photos)
    tab_b = tab_a.context.new_page()
    tab_b.base_url = tab_a.base_url
    open_report(tab_b)
    thumbs(tab_b, 2)
    assert tab_b.input_value("textarea[name=description]") == "小区门口垃圾堆放"

    answers = []
    first = send(tab_a, answers)
    second = send(tab_b, answers)
    assert answers == [201, 200] and first == second
    assert tab_b.locator("[data-done-title]").inner_text() == "上报成功（重试的提交已合并为同一案卷）"
    case = Case.objects.get()
    assert list(case.attachments.order_by("pk").values_list("sha256", flat=True)) == photo_digests(site_photos)
    assert phone.errors == []


def test_photos_added_in_one_tab_appear_in_the_other_and_make_no_second_case(phone, district, site_photos):
    """Given two tabs holding one draft (B opened on A's text), when A adds photos, then B shows them too; B
    sends first and A's send is answered with B's case: one case, with the photos."""
    from civicgrid.apps.cases.models import Case

    tab_a = phone
    sign_in(tab_a, "wang-wg")
    start_report(tab_a, [])
    tab_b = tab_a.context.new_page()
    tab_b.base_url = tab_a.base_url
    open_report(tab_b)
    assert tab_b.input_value("textarea[name=description]") == "小区门口垃圾堆放"

    add_photos(tab_a, site_photos)
    thumbs(tab_b, 2)
    tab_a.fill("textarea[name=description]", "小区门口垃圾堆放，已两天")
    tab_b.wait_for_function("() => document.querySelector('textarea[name=description]').value.endsWith('已两天')")

    answers = []
    first = send(tab_b, answers)
    second = send(tab_a, answers)
    assert answers == [201, 200] and first == second
    case = Case.objects.get()
    assert case.description == "小区门口垃圾堆放，已两天"
    assert list(case.attachments.order_by("pk").values_list("sha256", flat=True)) == photo_digests(site_photos)
    assert phone.errors == []


def test_discarding_the_draft_removes_its_photos_from_the_phone(phone, district, site_photos):
    """Given a draft with photos, when 放弃草稿 is cancelled nothing changes; when confirmed, the form is empty
    under a new key, the photos are deleted from the phone, and a reload brings nothing back."""
    sign_in(phone, "wang-wg")
    start_report(phone, site_photos)
    key = phone.input_value("input[name=idempotency_key]")
    discard = phone.locator("button[data-discard-draft]")

    phone.once("dialog", lambda dialog: dialog.dismiss())
    discard.click()
    assert phone.input_value("textarea[name=description]") == "小区门口垃圾堆放"
    assert stored(phone) == 2 and draft_of(phone)["key"] == key
    thumbs(phone, 2)

    said = []
    phone.once("dialog", lambda dialog: (said.append(dialog.message), dialog.accept()))
    discard.click()
    phone.wait_for_selector("#report-status:has-text('草稿已放弃')")
    assert said == ["放弃这份草稿？已填写的内容和照片将从手机上删除。"]
    assert phone.input_value("textarea[name=description]") == ""
    assert phone.input_value("select[name=category]") == ""
    assert phone.input_value("input[name=idempotency_key]") != key
    thumbs(phone, 0)
    wait_stored(phone, 0)
    assert discard.is_hidden()

    phone.reload()
    phone.wait_for_selector("[data-located][data-state='ok']")
    assert phone.input_value("textarea[name=description]") == ""
    assert phone.locator("#thumbs-photos img").count() == 0
    assert phone.errors == []


def test_photos_the_server_would_refuse_are_not_kept_and_the_rest_goes(phone, district, settings, tmp_path):
    """Given the server's limits (here 1 MB a photo, 2 photos a report), when four photos are chosen, one too
    large, then the page says why, keeps the first two that fit (shown and stored), and the report goes with
    them (the server accepts it: 201)."""
    from civicgrid.apps.cases.models import Case

    settings.CIVICGRID_MAX_PHOTO_BYTES = 1024 * 1024
    settings.CIVICGRID_MAX_PHOTOS_PER_REQUEST = 2
    big = jpeg(tmp_path / "big.jpg", None, size=(1000, 1000), noise=True)
    small = [jpeg(tmp_path / f"s{i}.jpg", (40 * i, 100, 150)) for i in range(1, 4)]
    assert big.stat().st_size > 1024 * 1024

    sign_in(phone, "wang-wg")
    start_report(phone, [])
    phone.set_input_files("input[name=photos]", [str(small[0]), str(big), str(small[1]), str(small[2])])
    thumbs(phone, 2)
    said = phone.locator("#report-status.error").inner_text()
    assert f"照片“big.jpg”过大（{big.stat().st_size / 1048576:.1f} MB），上限 1 MB，未添加" in said
    assert "一次最多上传 2 张照片，多选的 1 张未添加" in said
    wait_stored(phone, 2)

    answers = []
    send(phone, answers)
    assert answers == [201]
    case = Case.objects.get()
    assert list(case.attachments.order_by("pk").values_list("sha256", flat=True)) == photo_digests(small[:2])
    assert phone.errors == []


def test_a_self_handled_draft_keeps_its_before_and_after_photos_apart(phone, district, site_photos):
    """Given a self-handled report with a before and an after photo whose sending failed, when the page is
    reloaded, then 自行处置 is ticked with each photo back in its own box, and the report goes with them as
    before and after photos."""
    from civicgrid.apps.cases.models import Case

    before, after = site_photos
    sign_in(phone, "wang-wg")
    start_report(phone, [])
    phone.check("input[name=self_handled]")
    phone.set_input_files("input[name=photos_before]", str(before))
    phone.set_input_files("input[name=photos_after]", str(after))
    wait_stored(phone, 2)
    fail_sending(phone)

    phone.reload()
    phone.wait_for_selector("#report-status:has-text('已恢复未提交的草稿')")
    assert phone.is_checked("input[name=self_handled]")
    phone.wait_for_function("() => document.querySelectorAll('#thumbs-before img, #thumbs-after img').length === 2")
    assert phone.locator("#thumbs-photos img").count() == 0

    phone.unroute(SUBMIT)
    answers = []
    send(phone, answers)
    assert answers == [201]
    case = Case.objects.get()
    assert case.is_self_handled
    rows = list(case.attachments.order_by("pk").values_list("kind", "sha256"))
    assert rows == list(zip(["before", "after"], photo_digests([before, after]), strict=True))
    assert phone.errors == []
