"""The ledger (xlsx) and the case file (PDF), opened back: scope, Chinese headers and text, masked contacts,
photos, filters, refusals and the audit record of every download."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.services import act, add_photos, comment, submit_case
from civicgrid.apps.cases_documents import casefile, ledger
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.downloads import XLSX_TYPE
from civicgrid.testing.builders import category, department, user_with

pytestmark = pytest.mark.django_db
IN_STREET = (113.21, 40.01)  # grid 140213050001001
OTHER_STREET = (113.29, 40.01)  # grid 140213051001001


def jpeg(color=(200, 60, 30), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def loop(tree):
    dept = department("区城管局", code="D-CG")
    people = {
        "dept": dept,
        "cd": user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd"),
        "sd": user_with(Role.STREET_DISPATCHER, region=tree["140213050"], username="sd"),
        "worker": user_with(Role.GRID_WORKER, region=tree["140213050001001"], username="wg"),
        "handler": user_with(Role.DEPARTMENT_HANDLER, department=dept, username="h"),
    }
    people["cd"].display_name = "值班员王"
    people["cd"].save()
    case, _ = submit_case(actor=people["worker"], title="井盖缺失", description="人行道井盖缺失，存在安全隐患",
                          lng=IN_STREET[0], lat=IN_STREET[1], source="grid_worker", address="御河西路88号",
                          reporter_name="张三丰", reporter_phone="13912345678", reporter_email="zs@example.com",
                          photos=[jpeg()], category=category("井盖缺失", "01001").pk)
    act(actor=people["cd"], case=case, action="accept")
    act(actor=people["cd"], case=case, action="dispatch", department=dept.pk)
    act(actor=people["handler"], case=case, action="report_back", note="已补装井盖", photos=[jpeg((30, 160, 60))])
    act(actor=people["worker"], case=case, action="verify", photos=[jpeg((30, 60, 200), (48, 64))])
    people["case"] = act(actor=people["cd"], case=case, action="close")
    people["other"], _ = submit_case(actor=people["cd"], title="违规广告牌", lng=OTHER_STREET[0],
                                     lat=OTHER_STREET[1], source="video")
    return people


def sheet(response) -> list[tuple]:
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


def test_the_ledger_is_scoped_masked_and_audited(client, loop):
    client.force_login(loop["sd"])
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200 and response["Content-Type"] == XLSX_TYPE
    assert response["Content-Disposition"].startswith('attachment; filename="case-ledger-')
    rows = sheet(response)
    assert rows[0] == tuple(ledger.HEADERS) and rows[0][:3] == ("案卷号", "标题", "状态")
    assert [r[1] for r in rows[1:]] == ["井盖缺失"]  # the other street's case is not in a street ledger
    line = dict(zip(rows[0], rows[1], strict=True))
    assert line["报告人"] == "张**" and line["报告人电话"] == "139****5678"
    assert line["状态"] == "已结案" and line["街道"] == "永泰街道" and line["处置部门"] == "区城管局"
    text = " ".join(str(c) for r in rows for c in r if c is not None)
    assert "13912345678" not in text and "zs@example.com" not in text and "张三丰" not in text
    entry = AuditEntry.objects.get(action="data.exported", target_type="cases.case", actor=loop["sd"])
    assert entry.data == {"filter": {}, "rows": 1, "format": "xlsx"}


def test_the_ledger_takes_the_case_lists_filters(client, loop):
    client.force_login(loop["cd"])
    assert len(sheet(client.get("/documents/cases/ledger.xlsx"))) == 3
    open_only = sheet(client.get("/documents/cases/ledger.xlsx", {"status": "open"}))
    assert [r[1] for r in open_only[1:]] == ["违规广告牌"]
    assert len(sheet(client.get("/documents/cases/ledger.xlsx", {"region": "140213051"}))) == 2
    bad = client.get("/documents/cases/ledger.xlsx", {"date_from": "2026-13-01"})
    assert bad.status_code == 400 and "「上报日期自」须为日期" in bad.content.decode()
    assert client.get("/documents/cases/ledger.xlsx", {"status": "nonsense"}).status_code == 400


def test_a_refused_ledger_filter_is_said_in_the_readers_language(client, loop):
    """Both languages once came back as raw text: the site's 400 page says it in one."""
    from django.conf import settings
    from django.utils import translation

    client.force_login(loop["cd"])
    try:
        bad = client.get("/documents/cases/ledger.xlsx", {"date_from": "2026-13-01"})
        page = bad.content.decode()
        assert bad.status_code == 400 and bad["Content-Type"].startswith("text/html")
        assert "「上报日期自」须为日期，格式 YYYY-MM-DD" in page and "must be a date" not in page
        client.post("/i18n/setlang/", {"language": "en", "next": "/"})
        page = client.get("/documents/cases/ledger.xlsx", {"region": "abc"}).content.decode()
        assert "Street / community must be a region code" in page and "区划代码" not in page
    finally:
        translation.activate(settings.LANGUAGE_CODE)
    assert not AuditEntry.objects.filter(action="data.exported").exists()


def test_the_ledger_needs_the_export_capability(client, loop):
    client.force_login(loop["worker"])
    assert client.get("/documents/cases/ledger.xlsx").status_code == 403
    assert "data-download" not in client.get("/cases/").content.decode()  # and the list offers no export
    client.logout()
    assert client.get("/documents/cases/ledger.xlsx").status_code == 302
    assert not AuditEntry.objects.filter(action="data.exported").exists()


def test_a_department_handler_exports_its_own_departments_cases_only(client, loop):
    """A department handler exports the ledger of its department's work: the cases assigned to it, wherever they
    lie, and none of another department's (in the same street), nor a case not yet dispatched."""
    other_dept = department("区住建局", code="D-ZJ")
    user_with(Role.DEPARTMENT_HANDLER, department=other_dept, username="h2")
    theirs, _ = submit_case(actor=loop["worker"], title="楼道墙皮脱落", lng=IN_STREET[0], lat=IN_STREET[1],
                            source="grid_worker", category=category("井盖缺失", "01001").pk)
    act(actor=loop["cd"], case=theirs, action="accept")
    act(actor=loop["cd"], case=theirs, action="dispatch", department=other_dept.pk)
    mine_elsewhere, _ = submit_case(actor=loop["cd"], title="路面塌陷", lng=OTHER_STREET[0], lat=OTHER_STREET[1],
                                    source="video", category=category("井盖缺失", "01001").pk)
    act(actor=loop["cd"], case=mine_elsewhere, action="accept")
    act(actor=loop["cd"], case=mine_elsewhere, action="dispatch", department=loop["dept"].pk)
    client.force_login(loop["handler"])
    page = client.get("/cases/").content.decode()
    assert 'href="/documents/cases/ledger.xlsx" download data-download="ledger"' in page
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200 and response["Content-Type"] == XLSX_TYPE
    rows = sheet(response)
    assert {r[0] for r in rows[1:]} == {loop["case"].number, mine_elsewhere.number}
    assert {r[rows[0].index("处置部门")] for r in rows[1:]} == {"区城管局"}
    text = " ".join(str(c) for r in rows for c in r if c is not None)
    assert theirs.number not in text and loop["other"].number not in text and "区住建局" not in text
    # the scoped path itself: the export scope is the department's, whatever the filter asks for
    assert set(ledger.ledger_cases(loop["handler"], selectors.CaseFilter(department=other_dept.pk))) == set()
    assert {r[0] for r in sheet(client.get("/documents/cases/ledger.xlsx", {"department": other_dept.pk}))[1:]} \
        == set()
    entry = AuditEntry.objects.get(action="data.exported", target_type="cases.case", actor=loop["handler"],
                                   data__filter={})
    assert entry.data == {"filter": {}, "rows": 2, "format": "xlsx"}


def test_the_ledger_says_the_facts_the_rates_count(client, loop):
    """自行处置, 按期处置 and 按期结案 per line (blank until known): counting 是 in them gives the evaluation's 按期处置数
    and 按期结案数 of the same cases."""
    from django.utils import timezone

    from civicgrid.apps.cases.models import Case
    from civicgrid.apps.evaluation.selectors import aggregates

    self_handled, _ = submit_case(actor=loop["worker"], title="路灯不亮", lng=IN_STREET[0], lat=IN_STREET[1],
                                  source="grid_worker", self_handled=True, photos=[("after", jpeg())],
                                  category=category().pk)
    handled, _ = submit_case(actor=loop["worker"], title="垃圾满溢", lng=IN_STREET[0], lat=IN_STREET[1],
                             source="grid_worker", category=category().pk)
    for actor, action, inputs in (("cd", "accept", {}), ("cd", "dispatch", {"department": loop["dept"].pk}),
                                  ("handler", "report_back", {"note": "已清运"})):
        handled = act(actor=loop[actor], case=handled, action=action, **inputs)
    late, _ = submit_case(actor=loop["worker"], title="占道经营", lng=IN_STREET[0], lat=IN_STREET[1],
                          source="grid_worker", category=category().pk)
    for actor, action, inputs in (("cd", "accept", {}), ("cd", "dispatch", {"department": loop["dept"].pk}),
                                  ("handler", "report_back", {"note": "已劝离"}),
                                  ("worker", "verify", {"photos": [jpeg()]}), ("cd", "close", {})):
        late = act(actor=loop[actor], case=late, action=action, **inputs)
    Case.objects.filter(pk=late.pk).update(handled_on_time=False)  # handled after its deadline
    client.force_login(loop["cd"])
    rows = sheet(client.get("/documents/cases/ledger.xlsx"))
    assert {"自行处置", "按期处置", "按期结案"} <= set(rows[0])
    lines = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    facts = {number: (line["自行处置"], line["按期处置"], line["按期结案"]) for number, line in lines.items()}
    assert facts == {
        loop["case"].number: ("否", "是", "是"),
        self_handled.number: ("是", "是", "是"),
        handled.number: ("否", "是", None),  # handled, not closed yet
        late.number: ("否", "否", "否"),
        loop["other"].number: ("否", None, None),  # not accepted yet
    }
    counted = Case.objects.aggregate(**aggregates(["handled_timely", "closed_timely"], timezone.now()))
    assert counted == {"handled_timely": [f[1] for f in facts.values()].count("是"),
                       "closed_timely": [f[2] for f in facts.values()].count("是")}


def test_the_ledger_reads_the_same_queries_however_many_lines(loop):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from civicgrid.apps.cases.selectors import CaseFilter
    from civicgrid.foundation.access.models import User

    def queries() -> int:
        user = User.objects.get(pk=loop["cd"].pk)
        with CaptureQueriesContext(connection) as ctx:
            ledger.export(user, CaseFilter())
        return len(ctx.captured_queries)

    few = queries()
    for title in ("路灯不亮", "井盖破损", "垃圾满溢"):
        submit_case(actor=loop["worker"], title=title, lng=IN_STREET[0], lat=IN_STREET[1], source="grid_worker",
                    self_handled=True, photos=[("after", jpeg())], category=category().pk)
    assert queries() == few


def test_the_case_file_is_a_chinese_pdf_with_timeline_and_photos(client, loop):
    case = loop["case"]
    client.force_login(loop["cd"])
    response = client.get(f"/documents/cases/{case.number}.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    text = "".join(page.extract_text() for page in reader.pages)
    for expected in (case.number, "网格事件案卷", "井盖缺失", "人行道井盖缺失", "一、案卷信息", "二、处理过程",
                     "三、现场照片", "上报", "立案", "派遣", "处置反馈", "核查通过", "结案", "已补装井盖", "区城管局",
                     "永泰街道", "张**", "139****5678", "值班员王", "处置后"):
        assert expected in text, expected
    assert "13912345678" not in text and "张三丰" not in text and "zs@example.com" not in text
    images = sum(len(page.images) for page in reader.pages)
    assert images == 3
    fonts = {str(f) for page in reader.pages for f in page["/Resources"]["/Font"].values()
             for f in [f.get_object()["/BaseFont"]]}
    assert any("WenQuanYi" in f or "STSong" in f for f in fonts), fonts  # embedded system font or the CID font
    entry = AuditEntry.objects.get(action="data.exported", target_type="cases.case", target_id=str(case.pk))
    assert entry.actor_id == loop["cd"].pk and entry.data == {"format": "pdf", "document": "case_file", "photos": 3}


def test_the_case_file_is_404_outside_scope(client, loop):
    client.force_login(loop["sd"])
    assert client.get(f"/documents/cases/{loop['other'].number}.pdf").status_code == 404
    assert client.get("/documents/cases/2099010100001.pdf").status_code == 404
    client.force_login(loop["handler"])  # the department's own case: yes
    assert client.get(f"/documents/cases/{loop['case'].number}.pdf").status_code == 200
    assert client.get(f"/documents/cases/{loop['other'].number}.pdf").status_code == 404
    assert AuditEntry.objects.filter(action="data.exported").count() == 1


def test_the_fallback_cid_font_renders_chinese_too(loop, settings, monkeypatch):
    monkeypatch.setattr(casefile, "SYSTEM_FONTS", ())
    settings.CIVICGRID_PDF_FONT = "/nonexistent/font.ttf"
    casefile.font_name.cache_clear()
    try:
        from civicgrid.apps.cases import selectors

        body = casefile.build(selectors.case_detail(loop["cd"], loop["case"].number))
    finally:
        casefile.font_name.cache_clear()
    reader = PdfReader(io.BytesIO(body))
    fonts = {str(f.get_object()["/BaseFont"]) for f in reader.pages[0]["/Resources"]["/Font"].values()}
    assert any("STSong-Light" in f for f in fonts)
    assert "井盖缺失" in reader.pages[0].extract_text()


def _pages(user, case) -> list[str]:
    from civicgrid.apps.cases import selectors

    body = casefile.build(selectors.case_detail(user, case.number), generated_by="王𠮷")
    return [page.extract_text() for page in PdfReader(io.BytesIO(body)).pages]


def test_characters_the_font_lacks_print_as_a_mark(loop):
    """WenQuanYi Micro Hei has no CJK Extension A or B (䶮, 𠮷) and no emoji, nor has any font the servers carry:
    they printed as nothing (a NUL in the text), and the masked reporter 𠮷三 as " *". They print as 〓."""
    from reportlab.pdfbase import pdfmetrics

    assert casefile.font_name() == "CivicgridCJK"  # the embedded system font (CI installs it)
    glyphs = pdfmetrics.getFont("CivicgridCJK").face.charToGlyph
    assert not {ord(c) for c in "𠮷䶮☔😀"} & set(glyphs) and ord("〓") in glyphs
    case, _ = submit_case(actor=loop["cd"], title="𠮷野家门前井盖缺失", description="雨天☔️积水😀，䶮字路口",
                          lng=IN_STREET[0], lat=IN_STREET[1], source="hotline", hotline_ticket="12345-20261201-0001", address="𠮷祥路1号",
                          reporter_name="𠮷三", reporter_phone="13912345678")
    text = "".join(_pages(loop["cd"], case))
    assert "\x00" not in text
    for expected in ("〓野家门前井盖缺失", "雨天〓积水〓，〓字路口", "〓祥路1号", "报告人\n〓*\n", "王〓"):
        assert expected in text, expected


def test_the_fallback_cid_font_marks_what_it_cannot_encode(loop, settings, monkeypatch):
    monkeypatch.setattr(casefile, "SYSTEM_FONTS", ())
    settings.CIVICGRID_PDF_FONT = "/nonexistent/font.ttf"
    casefile.font_name.cache_clear()
    try:
        case, _ = submit_case(actor=loop["cd"], title="𠮷野家门前井盖缺失", lng=IN_STREET[0], lat=IN_STREET[1],
                              source="hotline", hotline_ticket="12345-20261201-0002", reporter_name="𠮷三")
        text = "".join(_pages(loop["cd"], case))
    finally:
        casefile.font_name.cache_clear()
    assert "\x00" not in text and "〓野家门前井盖缺失" in text and "〓*" in text


def test_the_case_sheet_starts_on_the_first_page_whatever_its_length(loop):
    """A long title and description once moved 一、案卷信息 whole to page 2 (page 1 held only the cover heading),
    and a description taller than a page could not be laid out at all (the download failed)."""
    case, _ = submit_case(actor=loop["cd"], title="长标题" * 66, description="描述文字" * 375, lng=IN_STREET[0],
                          lat=IN_STREET[1], source="hotline", hotline_ticket="12345-20261201-0003")
    pages = _pages(loop["cd"], case)
    assert "一、案卷信息" in pages[0] and case.number in pages[0] and "报告人" in pages[0]
    longest, _ = submit_case(actor=loop["cd"], title="长标题" * 66, description="很长的描述" * 800,
                             lng=IN_STREET[0], lat=IN_STREET[1], source="hotline", hotline_ticket="12345-20261201-0004")
    comment(actor="open311:x", case=longest, text="嗯" * 4000)  # a note taller than a page in its column
    pages = _pages(loop["cd"], longest)
    assert "一、案卷信息" in pages[0] and len(pages) >= 3
    text = "".join(pages).replace("\n", "")
    assert text.count("很") == 800 and text.count("嗯") == 4000  # all of it, across pages
    assert "二、处理过程" in text and "三、现场照片" in text


def test_documents_are_chinese_whoever_exports_them(client, loop):
    """An official record does not follow the exporter's interface language; a step taken through the
    reporter's follow link names the reporter, not the internal actor name."""
    from civicgrid.apps.cases.models import CaseReporter
    from civicgrid.apps.cases.services.follow import rate

    case = loop["case"]
    token = CaseReporter.objects.filter(original_case=case).values_list("follow_token", flat=True).first()
    rate(follow_token=token, score=5, comment="很满意")
    client.force_login(loop["cd"])
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert 'lang="en"' in client.get("/").content.decode()  # the interface is English now
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        client.get(f"/documents/cases/{case.number}.pdf").content)).pages)
    assert "已结案" in text and "网格员上报" in text and "Closed" not in text and "Grid worker" not in text
    assert "报告人（通过查询链接）" in text.replace("\n", "") and "reporter" not in text
    rows = sheet(client.get("/documents/cases/ledger.xlsx"))
    flat = " ".join(str(v) for r in rows for v in r if v is not None)
    assert "已结案" in flat and "Closed" not in flat


def test_a_merged_cases_file_and_ledger_line_name_the_case_it_joined(client, loop):
    """The case page shows 「主案卷 …」 for a merged case: its PDF (sheet and 合并到主案卷 step) and its ledger line
    say the same; other lines leave the column empty."""
    parent = loop["other"]
    duplicate, _ = submit_case(actor=loop["cd"], title="违规广告牌（重复）", lng=OTHER_STREET[0], lat=OTHER_STREET[1],
                               source="video")
    act(actor=loop["cd"], case=duplicate, action="merge", parent=parent.number)
    client.force_login(loop["cd"])
    response = client.get(f"/documents/cases/{duplicate.number}.pdf")
    assert response.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "主案卷" in text and text.count(parent.number) >= 2, text  # the sheet's line and the merge step
    assert f"主案卷 {parent.number}" in text and "合并到主案卷" in text.replace("\n", "")  # the step's label wraps
    # the parent's own file has no such line
    own = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        client.get(f"/documents/cases/{parent.number}.pdf").content)).pages)
    assert "主案卷" not in own and f"合并案卷 {duplicate.number}" in own

    rows = sheet(client.get("/documents/cases/ledger.xlsx"))
    assert rows[0] == tuple(ledger.HEADERS) and "主案卷" in rows[0]
    lines = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert lines[duplicate.number]["主案卷"] == parent.number and lines[duplicate.number]["状态"] == "已合并"
    assert lines[parent.number]["主案卷"] is None and lines[loop["case"].number]["主案卷"] is None


def test_a_redirected_case_says_how_often_it_was_redirected_in_its_file_and_ledger_line(client, loop):
    """改派次数 beside 退回次数: on the case file's sheet (with the 改派 step and its reason in the timeline) and on the
    ledger line; a case never redirected says 0."""
    other = department("区住建局", code="D-ZJ")
    user_with(Role.DEPARTMENT_HANDLER, department=other, username="h2")
    case, _ = submit_case(actor=loop["worker"], title="路面塌陷", lng=IN_STREET[0], lat=IN_STREET[1],
                          source="grid_worker", category=category().pk)
    for action, inputs in (("accept", {}), ("dispatch", {"department": loop["dept"].pk}),
                           ("redirect", {"department": other.pk, "reason": "路面归住建管养"})):
        case = act(actor=loop["cd"], case=case, action=action, **inputs)
    assert case.redirect_count == 1 and case.send_back_count == 0
    client.force_login(loop["cd"])
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        client.get(f"/documents/cases/{case.number}.pdf").content)).pages)
    flat = text.replace("\n", "").replace(" ", "")
    assert "退回次数0" in flat and "改派次数1" in flat, text
    assert "改派" in text.replace("改派次数", "") and "路面归住建管养" in text  # the step, with its reason
    never = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        client.get(f"/documents/cases/{loop['case'].number}.pdf").content)).pages)
    assert "改派次数0" in never.replace("\n", "").replace(" ", "")

    rows = sheet(client.get("/documents/cases/ledger.xlsx"))
    assert rows[0] == tuple(ledger.HEADERS)
    assert rows[0].index("改派次数") == rows[0].index("退回次数") + 1
    lines = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert (lines[case.number]["退回次数"], lines[case.number]["改派次数"]) == (0, 1)
    assert lines[loop["case"].number]["改派次数"] == 0


def test_the_timeline_keeps_names_on_one_line_and_gives_notes_the_width(loop):
    """操作人 and 部门 were 12 % and 15 % of the line: 智能分拨（系统） broke as 智能分拨（系/统） and 平城区城市管理局 as
    平城区城市管理/局, while 说明 had about 14 characters, so five steps with long notes (a link and a paragraph)
    ran to five pages. The name columns are as wide as their longest entry and 说明 takes the rest; a link breaks
    anywhere (reportlab's CJK wrap)."""
    dept = department("平城区城市管理局", code="D-PCCG")
    loop["cd"].display_name = "智能分拨（系统）"
    loop["cd"].save()
    handler = user_with(Role.DEPARTMENT_HANDLER, department=dept, username="h-pc")
    link = "https://civic.example.gov.cn/cases/evidence?" + "&".join(f"p{i}=v{i:04d}" for i in range(26))
    link = link[:250]
    note = link + " " + "现场核实情况说明" * 50  # a 250-character link and 400 characters of text
    case, _ = submit_case(actor=loop["worker"], title="占道经营", lng=IN_STREET[0], lat=IN_STREET[1],
                          source="grid_worker", category=category("占道经营", "01002").pk)
    act(actor=loop["cd"], case=case, action="accept", note=note)
    act(actor=loop["cd"], case=case, action="dispatch", department=dept.pk, note=note)
    act(actor=handler, case=case, action="report_back", note=note, photos=[jpeg()])
    act(actor=loop["worker"], case=case, action="verify", note=note, photos=[jpeg()])
    act(actor=loop["cd"], case=case, action="close", note=note)
    pages = _pages(loop["cd"], case)
    text = "".join(pages)
    # on one line each: the three steps 智能分拨（系统） took, the sheet's 处置部门 and the two department steps
    assert text.count("智能分拨（系统）") == 3 and text.count("平城区城市管理局") == 3
    # 说明 holds about 24 characters a line, not 14: the timeline ends on page 3 (it ran into page 5)
    assert text.count("况") == 250 and len(pages) == 4, [len(p) for p in pages]  # every note whole
    assert "况" not in pages[3] and "三、现场照片" in pages[3]


def test_an_emoji_prints_as_one_mark_whatever_it_is_made_of(loop):
    """A family emoji (three people joined by U+200D) printed as 〓‍〓‍〓, with the invisible joiners in the text,
    and a thumbs-up with a skin tone as two marks (the tone is a character of its own): one emoji, one 〓."""
    case, _ = submit_case(actor=loop["cd"], title="家门口👨‍👩‍👧‍👦积水", lng=IN_STREET[0], lat=IN_STREET[1],
                          source="hotline", hotline_ticket="12345-20261201-0005", description="处理得好👍🏽，谢谢❤️‍🔥！国旗🇨🇳，按键1️⃣，👋🏿再见，中\u200d文")
    text = "".join(_pages(loop["cd"], case))
    assert "\u200d" not in text and "\ufe0f" not in text
    assert "家门口〓积水" in text and "中文" in text  # a joiner between letters is dropped, the letters kept
    assert "处理得好〓，谢谢〓！国旗〓，按键1，〓再见" in text.replace("\n", "")


def _listed(client, params) -> set[str]:
    """The case numbers of the list page's rows."""
    import re

    page = client.get("/cases/", params)
    assert page.status_code == 200, params
    return set(re.findall(r'href="/cases/([0-9]{8,20})/"', page.content.decode()))


def test_the_list_and_its_ledger_link_hold_the_same_rows(client, loop):
    """导出台账（当前筛选） once differed from the list: the list ignored date_from/date_to, read only one status and
    took overdue=yes for no filter; both now read the query through `selectors.filter_from_query`."""
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.apps.cases.models import Case

    closed, other = loop["case"], loop["other"]
    Case.objects.filter(pk=closed.pk).update(reported_at=timezone.now() - timedelta(days=3), is_overdue=True)
    Case.objects.filter(pk=other.pk).update(is_major=True)
    today = timezone.localdate()
    client.force_login(loop["cd"])
    for params, expected in (
        ({"date_from": today.isoformat()}, {other.number}),
        ({"date_to": (today - timedelta(days=1)).isoformat()}, {closed.number}),
        ({"status": "handled,closed"}, {closed.number}),
        ({"overdue": "yes"}, {closed.number}),
        ({"overdue": "0"}, {other.number}),
        ({"is_major": "1"}, {other.number}),
        ({"is_major": "false"}, {closed.number}),
    ):
        assert _listed(client, params) == expected, params
        assert {r[0] for r in sheet(client.get("/documents/cases/ledger.xlsx", params))[1:]} == expected, params
    # the list's form offers the date range and 重大事件, and the export link carries them
    page = client.get("/cases/", {"date_from": today.isoformat(), "is_major": "1"}).content.decode()
    assert f'name="date_from" value="{today.isoformat()}"' in page and 'name="date_to"' in page
    assert 'name="is_major"' in page and f"date_from={today.isoformat()}" in page


def test_an_own_report_elsewhere_is_listed_for_following_but_marked_out_of_the_ledger(client, loop, tree):
    """A street's staff member who reports a case in another street follows it in their list (the reporter's
    branch of the view scope) but it is not their street's record: the ledger stays regional, and the list
    says which rows it leaves out."""
    street = user_with(Role.STREET_STAFF, region=tree["140213050"], username="jd")
    elsewhere, _ = submit_case(actor=street, title="路灯不亮", lng=OTHER_STREET[0], lat=OTHER_STREET[1],
                               source="grid_worker")
    client.force_login(street)
    assert _listed(client, {}) == {loop["case"].number, elsewhere.number}
    page = client.get("/cases/").content.decode()
    assert page.count("data-outside-ledger") == 2 and 'data-outside-ledger="1"' in page
    assert {r[0] for r in sheet(client.get("/documents/cases/ledger.xlsx"))[1:]} == {loop["case"].number}
    client.force_login(loop["sd"])  # nothing of theirs outside: no mark
    assert "data-outside-ledger" not in client.get("/cases/").content.decode()


def test_an_ended_cases_file_and_ledger_line_say_it_was_overdue_and_supervised_not_that_it_is(client, loop):
    """超期 and 督办 are "now" while the case is in the loop (是); once it ended (closed, refused, voided) its file
    and its ledger line say 曾超期 / 曾督办, a fact of its past, not 是."""
    from civicgrid.apps.cases.models import Case

    closed, open_ = loop["case"], loop["other"]
    # the flags as 超期自动督办 leaves them (the sweep's breach), on a case since closed and on one still open
    Case.objects.filter(pk__in=[closed.pk, open_.pk]).update(is_overdue=True, is_supervised=True)
    client.force_login(loop["cd"])

    def sheet_flat(case) -> str:
        body = client.get(f"/documents/cases/{case.number}.pdf").content
        return "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages).replace("\n", "").replace(" ", "")

    ended, running = sheet_flat(closed), sheet_flat(open_)
    assert "超期曾超期" in ended and "督办曾督办" in ended and "超期是" not in ended and "督办是" not in ended
    assert "超期是" in running and "督办是" in running
    rows = sheet(client.get("/documents/cases/ledger.xlsx"))
    lines = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert (lines[closed.number]["超期"], lines[closed.number]["督办"]) == ("曾超期", "曾督办")
    assert (lines[open_.number]["超期"], lines[open_.number]["督办"]) == ("是", "是")


def test_a_case_file_with_more_photos_than_it_shows_keeps_those_of_the_handling_and_the_check(tree):
    # Given a case whose reporters sent 27 photos before the department's 处置后 and the grid worker's 核查 photos
    dept = department("区城管局", code="D-CG")
    cd = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd")
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"], username="wg")
    handler = user_with(Role.DEPARTMENT_HANDLER, department=dept, username="h")
    case, _ = submit_case(actor=worker, title="井盖缺失", lng=IN_STREET[0], lat=IN_STREET[1], source="grid_worker",
                          photos=[jpeg((i * 20, 60, 30)) for i in range(9)], category=category("井盖缺失", "01001").pk)
    for batch in range(2):
        add_photos(actor=worker, case=case, photos=[jpeg((30, batch * 100 + i * 10, 60)) for i in range(9)])
    act(actor=cd, case=case, action="accept")
    act(actor=cd, case=case, action="dispatch", department=dept.pk)
    act(actor=handler, case=case, action="report_back", note="已补装井盖", photos=[jpeg((30, 160, 60))])
    act(actor=worker, case=case, action="verify", photos=[jpeg((30, 60, 200))])
    case = selectors.case_detail(cd, case.number)

    # When its file is built
    reader = PdfReader(io.BytesIO(casefile.build(case)))
    text = "".join(page.extract_text() for page in reader.pages)

    # Then it shows MAX_PHOTOS of the 29, the 处置后 and 核查 photos among them, and says how many it left out
    assert sum(len(page.images) for page in reader.pages) == casefile.MAX_PHOTOS
    assert "处置后" in text and "核查照片" in text
    assert f"另有 {29 - casefile.MAX_PHOTOS} 张照片未列出" in text


def test_the_case_files_timeline_says_what_the_case_page_says_beside_a_steps_note(client, loop):
    """The case page shows, beside a step's note, the rating's score (评分 4 / 5), the hours a 申请延期 asked for
    and what the reporters were told of a 不予受理; the case file printed none of them (a rating without a comment
    read "—", so the file never said how the work was rated)."""
    from civicgrid.apps.cases.models import CaseReporter
    from civicgrid.apps.cases.services import rate

    case = loop["case"]
    token = CaseReporter.objects.filter(case=case).first().follow_token
    rate(follow_token=token, score=4)
    asked, _ = submit_case(actor=loop["worker"], title="路面塌陷", lng=IN_STREET[0], lat=IN_STREET[1],
                           source="grid_worker", category=category().pk)
    act(actor=loop["cd"], case=asked, action="accept")
    act(actor=loop["cd"], case=asked, action="dispatch", department=loop["dept"].pk)
    act(actor=loop["handler"], case=asked, action="request_extension", reason="等待材料", hours=6)
    refused, _ = submit_case(actor=loop["worker"], title="重复反映", lng=IN_STREET[0], lat=IN_STREET[1],
                             source="grid_worker")
    act(actor=loop["cd"], case=refused, action="refuse", reason="内部：重复", public_note="经核实已在处理中")

    client.force_login(loop["cd"])

    def flat(number):
        body = client.get(f"/documents/cases/{number}.pdf").content
        return "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages).replace("\n", "").replace(" ", "")

    assert "评分4/5" in flat(case.number)
    text = flat(asked.number)
    assert "申请延期6小时" in text and "等待材料" in text
    text = flat(refused.number)
    assert "内部：重复" in text and "告知上报人：经核实已在处理中" in text
