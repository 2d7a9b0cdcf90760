"""A case file (案卷) as PDF, built with reportlab: the case sheet, its timeline and its photos.

Chinese needs a CJK font. The system's WenQuanYi Micro Hei (`fonts-wqy-microhei`) is embedded as a subset, so
the file prints the same everywhere; without it, reportlab's built-in CID font STSong-Light is used (readers
supply its glyphs). `settings.CIVICGRID_PDF_FONT` may name another TrueType/TTC file. Nothing is downloaded.

A character the font has no glyph for (CJK Extension A and B such as 䶮 and 𠮷, emoji; no font the servers carry
has them) would print as nothing, or as a NUL in the text: it prints as 〓 (the typesetter's mark for a missing
character), so a reader sees that something stands there and a masked name keeps its shape ("〓*"). One emoji as
the reader sees it is one mark, whatever it is made of: a family joined by zero-width joiners (U+200D), a skin
tone (U+1F3FB–1F3FF), a variation selector (U+FE0F), a keycap or a flag's pair of letters.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from functools import cache
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import CondPageBreak, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from civicgrid.apps.cases import display, selectors
from civicgrid.apps.cases import photos as photo_mod
from civicgrid.apps.cases.models import Case, CaseReporter
from civicgrid.apps.cases.services.actions_intake import CHECK_RESULTS, PUBLIC_NOTE_ACTIONS
from civicgrid.apps.cases.services.follow import public_note
from civicgrid.apps.cases.workflow import CASE_WORKFLOW
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core.office_xlsx import official_language
from civicgrid.foundation.core.pii import mask_name

from . import qr

log = logging.getLogger(__name__)
SYSTEM_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc")
FALLBACK_FONT = "STSong-Light"
MAX_PHOTOS = 24  # a case sheet, not an album: the rest are named in the timeline
# Timeline entries that are not transitions of the workflow table.
EXTRA_ACTIONS = {"report": "上报", "self_handle": "自行处置", "merged_in": "合并案卷", "auto_supervise": "超期自动督办",
                 "add_photos": "补充照片", "rate": "满意度评价", "comment": "留言", "auto_dispatch_held": "未自动派遣",
                 "merged_supervision": "并入案卷的督办"}
PHOTO_KINDS = {"photo": "上报照片", "before": "处置前", "after": "处置后", "progress": "处置过程", "verify": "核查照片"}
PAGE_W, PAGE_H = A4
MARGIN = 16 * mm
MISSING = "〓"  # 下脚符 (geta mark), for a character the font cannot print; WenQuanYi and STSong have it
# Invisible characters the font lacks (variation selectors after an emoji, controls) are dropped, not marked.
_INVISIBLE = {"Mn", "Me", "Cf", "Cc"}
# The parts of an emoji that only modify or join the character before them (variation selectors, skin tones, the
# keycap, tag letters of a subdivision flag; U+200D joins the next symbol in, never a letter: 中\u200d文 keeps 文);
# and a flag's two letters.
_EMOJI_TAIL = re.compile("([^\n])(?:[\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\u20e3\U000e0020-\U000e007f]"
                         "|\u200d[\u2190-\u2bff\U0001f000-\U0001faff])+")
_FLAG = re.compile("([\U0001f1e6-\U0001f1ff])[\U0001f1e6-\U0001f1ff]")
PHOTOS_PER_ROW = 3
PHOTO_SIZE = (PAGE_W - 2 * MARGIN) / PHOTOS_PER_ROW - 6 * mm


@cache
def font_name() -> str:
    """Register the CJK font once: the configured or system TrueType font, else the built-in CID font."""
    candidates = [getattr(settings, "CIVICGRID_PDF_FONT", "")] + list(SYSTEM_FONTS)
    for path in filter(None, candidates):
        try:
            font = TTFont("CivicgridCJK", path, subfontIndex=0)
        except Exception:  # missing or unreadable font file: try the next one
            continue
        pdfmetrics.registerFont(font)
        _GLYPHS[font.fontName] = frozenset(font.face.charToGlyph)
        return font.fontName
    log.warning("no CJK TrueType font found; case files use the CID font %s", FALLBACK_FONT)
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    _GLYPHS[FALLBACK_FONT] = None
    return FALLBACK_FONT


# The code points each registered font can print: a TrueType font's character map; None for the CID font, whose
# glyphs the reader supplies (it encodes the Basic Multilingual Plane only).
_GLYPHS: dict[str, frozenset[int] | None] = {}


def printable(text: str) -> str:
    """`text` with every character the case file's font cannot print replaced by 〓 (invisible ones dropped); an
    emoji sequence is first cut to its first character, so it prints as one mark (or as its base, when the font
    has that: ❤️‍🔥 as ❤), never as 〓‍〓‍〓 with the joiners left between the marks."""
    glyphs = _GLYPHS.get(font_name())
    text = _FLAG.sub(r"\1", _EMOJI_TAIL.sub(r"\1", text)).replace("\u200d", "")
    for ch in set(text):
        if ch == "\n":
            continue
        kind = unicodedata.category(ch)
        if kind == "Cc" or (ord(ch) > 0xFFFF if glyphs is None else ord(ch) not in glyphs):
            text = text.replace(ch, "" if kind in _INVISIBLE else MISSING)
    return text


def _styles() -> dict[str, ParagraphStyle]:
    font = font_name()
    base = ParagraphStyle("base", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontSize=16, leading=22, alignment=TA_CENTER, spaceAfter=2),
        "sub": ParagraphStyle("sub", parent=base, fontSize=9, alignment=TA_CENTER, textColor=colors.grey),
        # Kept with the start of its section by `_heading` (keepWithNext would keep it with the whole section:
        # a section taller than the rest of the page would move to the next one and leave this one empty).
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=18, spaceBefore=10, spaceAfter=4),
        "label": ParagraphStyle("label", parent=base, textColor=colors.HexColor("#646a73")),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11, textColor=colors.HexColor("#646a73")),
        "caption": ParagraphStyle("caption", parent=base, fontSize=8, leading=11, alignment=TA_CENTER,
                                  textColor=colors.HexColor("#646a73")),
    }


def _p(text, style) -> Paragraph:
    return Paragraph(escape(printable(str(text if text not in (None, "") else "—"))).replace("\n", "<br/>"), style)


def _heading(text: str, s, *, keep: float) -> list:
    """A section heading that never ends a page on its own: it starts a new page unless the heading and `keep`
    (the height of the section's first row or so) fit on this one."""
    return [CondPageBreak(s["h2"].spaceBefore + s["h2"].leading + s["h2"].spaceAfter + keep), _p(text, s["h2"])]


def _when(value) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else ""


def _yes(value) -> str:
    return "是" if value else "否"


def _deadline(case: Case) -> str:
    """处置期限 as the case page shows it: standing still while the case is 挂账 (the original deadline, which
    恢复办理 moves on by the pause: passing it while paused is no lateness), or marked when it was reckoned on a
    provisional calendar year, whose holidays may still move it."""
    if display.deadline_paused(case.status, case.deadline):
        return f"已暂停（挂账） 原期限 {_when(case.deadline)}，恢复办理后按暂停时长顺延"
    if case.deadline and display.deadline_provisional(selectors.clocks(case)):
        return f"{_when(case.deadline)}（按临时日历推算）"
    return _when(case.deadline)


def _sheet(case: Case, s) -> list[Table]:
    """The case sheet: label/value pairs, two per line; then the long texts, each across the line."""
    grid = case.grid
    community = grid.parent if grid else None
    street = community.parent if community else None
    pairs = [
        ("案卷号", case.number), ("状态", case.get_status_display()),
        ("分类", case.category.name if case.category_id else ""), ("来源", case.get_source_display()),
        ("街道", street.name if street else ""), ("社区/村", community.name if community else ""),
        ("网格", f"{grid.name}（{grid.code}）" if grid else case.region_code),
        ("经纬度", f"{case.lng:.6f}, {case.lat:.6f}"),
        ("报告人", mask_name(case.reporter_name)), ("报告人电话", case.reporter_phone_masked),
        ("热线工单号", case.hotline_ticket), ("重大事件", _yes(case.is_major)),
        ("处置部门", case.department.name if case.department_id else ""), ("处置期限", _deadline(case)),
        ("上报时间", _when(case.reported_at)), ("立案时间", _when(case.accepted_at)),
        ("派遣时间", _when(case.dispatched_at)), ("处置时间", _when(case.handled_at)),
        ("核查时间", _when(case.verified_at)), ("结案时间", _when(case.closed_at)),
        ("超期", display.overdue_word(case.status, case.is_overdue)),
        ("督办", display.supervised_word(case.status, case.is_supervised)),
        ("返工次数", case.rework_count), ("退回次数", case.send_back_count),
        ("改派次数", case.redirect_count),
    ]
    cells = [[_p(label, s["label"]), _p(value, s["base"])] for label, value in pairs]
    if len(cells) % 2:  # an odd pair out: the last line's right half stays blank
        cells.append([Paragraph("", s["label"]), Paragraph("", s["base"])])
    rows = [left + right for left, right in zip(cells[::2], cells[1::2], strict=True)]
    # A merged case is handled as its parent: the file names it, as the case page does.
    long_texts = [("主案卷", case.parent.number)] if case.parent_id else []
    long_texts += [("标题", case.title_for_staff), ("地址", case.address_for_staff), ("描述", case.description_for_staff)]
    width = PAGE_W - 2 * MARGIN
    line = colors.HexColor("#dee0e3")
    shaded = colors.HexColor("#fafbfc")
    pairs_table = Table(rows, colWidths=[width * 0.13, width * 0.37, width * 0.13, width * 0.37])
    pairs_table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, line),
        ("BACKGROUND", (0, 0), (0, -1), shaded),
        ("BACKGROUND", (2, 0), (2, -1), shaded),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    # The long texts as a table of their own, label and value across the line: a row taller than the rest of the
    # page (a long description) is split across pages (splitInRow), which reportlab does not do for a spanned
    # cell; moved whole, it could not fit on any page.
    texts_table = Table([[_p(label, s["label"]), _p(value, s["base"])] for label, value in long_texts],
                        colWidths=[width * 0.13, width * 0.87], splitInRow=1)
    texts_table.setStyle(TableStyle([
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, line),
        ("LINEBEFORE", (0, 0), (-1, -1), 0.4, line),
        ("LINEAFTER", (-1, 0), (-1, -1), 0.4, line),
        ("BACKGROUND", (0, 0), (0, -1), shaded),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return [pairs_table, texts_table]


def action_label(action: str) -> str:
    """The Chinese name of a timeline entry."""
    if action in EXTRA_ACTIONS:
        return EXTRA_ACTIONS[action]
    try:
        return CASE_WORKFLOW.transition(action).label
    except Exception:  # an action this version does not know: show its code
        return action


def _step_note(step) -> str:
    """The step's note; 合并到主案卷 is taken without one, and names the parent it joined (kept in its data).
    A case file is an export, printed and passed on: every note reads as the case page shows it, its phone and ID
    numbers and the names it introduces masked (`CaseStep.note_for_staff`), staff's too (a third party's number
    written into a 处置反馈)."""
    parent = (step.data or {}).get("parent") if step.action == "merge" else None
    note = step.note_for_staff(shown=False)
    if parent and str(parent) not in step.note:
        note = f"主案卷 {parent}" + (f"；{note}" if note else "")
    return "\n".join(filter(None, [note, *_step_facts(step)]))


def _step_facts(step) -> list[str]:
    """What the case page shows beside a step's note (`ui.pages.cases_detail._timeline`), which the step's note
    does not say: a 评价's score, the hours a 申请延期 asked for (a request withdrawn or granted in full leaves no
    other step that names them), and what the reporters were told of a 不予受理 or 作废 (its note is the internal
    reason)."""
    data = step.data if isinstance(step.data, dict) else {}
    if step.action == "rate" and data.get("score") is not None:
        return [f"评分 {data['score']} / 5"]
    if step.action == "request_extension" and data.get("hours") is not None:
        return [f"申请延期 {float(data['hours']):g} 小时"]
    if step.action in PUBLIC_NOTE_ACTIONS:
        return [f"告知上报人：{public_note(step)}"]
    if result := display.check_result_beside_note(step):
        return [f"核实结果：{CHECK_RESULTS[result]}"]
    return []


# The timeline's cells: a little padding (reportlab's 6 points either side cost 说明 six characters), the name
# columns as wide as their longest entry up to a share of the line, and 说明 the rest, never less than its share.
TIMELINE_PAD = 3
NAME_SHARE = 0.2
NOTE_SHARE = 0.4


def _widest(cells) -> float:
    """The width of the longest line of the (text, style) `cells`, with the cell's padding (and a point to spare)."""
    return max((pdfmetrics.stringWidth(line, style.fontName, style.fontSize)
                for text, style in cells for line in printable(str(text or "")).split("\n")), default=0.0) \
        + 2 * TIMELINE_PAD + 1


def _column_widths(columns: list[list[tuple[str, ParagraphStyle]]], width: float) -> list[float]:
    """Widths for the timeline's columns (each given as its cells), the last (说明) taking what the others leave.
    Time, action and state take their longest entry; 操作人 and 部门 too, up to `NAME_SHARE` of the line each (a
    longer name wraps); and if that would leave 说明 less than `NOTE_SHARE`, the name columns give way first."""
    fixed = [_widest(cells) for cells in columns[:3]]
    names = [min(_widest(cells), width * NAME_SHARE) for cells in columns[3:5]]
    spare = width * (1 - NOTE_SHARE) - sum(fixed)
    if sum(names) > spare:
        names = [w * max(spare, 0) / sum(names) for w in names]
    if spare < 0:  # not expected (actions and states are short): everything shares the 60 per cent
        fixed = [w * width * (1 - NOTE_SHARE) / sum(fixed) for w in fixed]
    return [*fixed, *names, width - sum(fixed) - sum(names)]


def _timeline(case: Case, s) -> Table:
    states = CASE_WORKFLOW.states
    rows = [[(title, s["label"]) for title in ("时间", "操作", "状态", "操作人", "部门", "说明")]]
    proposals = display.send_back_proposals(case)  # a 退回's proposed department and rule correction, as the page
    for step in case.steps.all():
        change = states.get(step.to_status, step.to_status) if step.to_status else ""
        if change and step.from_status:
            change = f"{states.get(step.from_status, step.from_status)} →\n{change}"  # a line each
        when = f"{timezone.localtime(step.at):%Y-%m-%d\n%H:%M}" if step.at else ""  # the date above the time
        department = step.acting_department.name if step.acting_department else ""
        note = "\n".join(filter(None, [_step_note(step), proposals.get(step.pk, {}).get("text")]))
        rows.append([(when, s["small"]), (action_label(step.action), s["base"]), (change, s["small"]),
                     (step.actor_for_staff, s["small"]), (department, s["small"]), (note, s["base"])])
    widths = _column_widths([list(column) for column in zip(*rows, strict=True)], PAGE_W - 2 * MARGIN)
    table = Table([[_p(text, style) for text, style in row] for row in rows], colWidths=widths, repeatRows=1,
                  splitInRow=1)
    table.setStyle(TableStyle([
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#dee0e3")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#fafbfc")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), TIMELINE_PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), TIMELINE_PAD),
    ]))
    return table


def _photo_cell(attachment, s, size: float):
    """One photo scaled into a square of `size`, with its caption; a missing file is said so."""
    caption = f"{PHOTO_KINDS.get(attachment.kind, attachment.kind)} · {_when(attachment.created_at)}"
    try:
        with photo_mod.open_attachment(attachment) as handle:
            data = handle.read()
    except OSError:
        return [_p(f"{caption}（照片文件缺失）", s["caption"])]
    w, h = attachment.width or 4, attachment.height or 3
    scale = min(size / w, size / h)
    return [Image(io.BytesIO(data), width=w * scale, height=h * scale), _p(caption, s["caption"])]


def shown_photos(attachments: list) -> list:
    """The photos a case file shows, in the order they were added: all of them up to `MAX_PHOTOS`; beyond that,
    taken in turn from each kind (上报, 处置前, 处置过程, 处置后, 核查), so that photos a reporter kept adding never
    push the handling and the check out of the file, which is the record that the work was done."""
    if len(attachments) <= MAX_PHOTOS:
        return attachments
    by_kind: dict[str, list] = {}
    for attachment in attachments:
        by_kind.setdefault(attachment.kind, []).append(attachment)
    queues = [iter(found) for found in by_kind.values()]
    chosen: set[int] = set()
    while len(chosen) < MAX_PHOTOS:
        for queue in queues:
            attachment = next(queue, None)
            if attachment is not None and len(chosen) < MAX_PHOTOS:
                chosen.add(id(attachment))
    return [a for a in attachments if id(a) in chosen]


def _photos(case: Case, s) -> list:
    attachments = sorted(case.attachments.all(), key=lambda a: (a.created_at, a.pk))
    if not attachments:
        return [_p("无照片", s["base"])]
    width = PAGE_W - 2 * MARGIN
    per_row = PHOTOS_PER_ROW
    size = PHOTO_SIZE
    cells = [_photo_cell(a, s, size) for a in shown_photos(attachments)]
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    rows[-1] += [""] * (per_row - len(rows[-1]))
    table = Table(rows, colWidths=[width / per_row] * per_row)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 8)]))
    flow = [table]
    if len(attachments) > MAX_PHOTOS:
        flow.append(_p(f"另有 {len(attachments) - MAX_PHOTOS} 张照片未列出", s["small"]))
    return flow


def _follow_qr(link: str, s) -> Table:
    """The reporter's follow link as a QR code beside its address, to hand over or print for the reporter."""
    size = 30 * mm
    image = Image(io.BytesIO(qr.png(link, scale=6)), width=size, height=size)
    text = [_p("查询与评价二维码", s["label"]), _p("报告人扫码可查看办理进度、评价处置结果或申请重新办理。", s["small"]),
            _p(link, s["small"])]
    width = PAGE_W - 2 * MARGIN
    table = Table([[image, text]], colWidths=[size + 4 * mm, width - size - 4 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
    return table


def build(case: Case, *, generated_by: str = "", follow_link: str = "") -> bytes:
    """The PDF bytes of a case file (the case with its steps and attachments prefetched); with `follow_link`,
    the reporter's follow link as a QR code under the case sheet."""
    s = _styles()
    buffer = io.BytesIO()
    stamp = f"{timezone.localtime():%Y-%m-%d %H:%M}"

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(s["small"].fontName, 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(MARGIN, 10 * mm, f"平城区网格化治理平台 · 案卷 {case.number}")
        canvas.drawRightString(PAGE_W - MARGIN, 10 * mm, printable(f"第 {doc.page} 页 · {stamp} {generated_by}".rstrip()))
        canvas.restoreState()

    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=18 * mm, title=f"案卷 {case.number}", author="civicgrid",
                            subject=case.title_for_staff)
    story = [
        _p("网格事件案卷", s["title"]),
        _p(f"案卷号 {case.number} · 生成时间 {stamp}", s["sub"]),
        Spacer(1, 6 * mm),
        *_heading("一、案卷信息", s, keep=20 * mm), *_sheet(case, s),
        *([Spacer(1, 3 * mm), _follow_qr(follow_link, s)] if follow_link else []),
        *_heading("二、处理过程", s, keep=25 * mm), _timeline(case, s),
        *_heading("三、现场照片", s, keep=PHOTO_SIZE + 12 * mm), *_photos(case, s),
    ]
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def reporter_link(case: Case, user, request=None) -> str:
    """The follow link of the report `user` made themselves (a grid worker hands it to the resident), else "":
    staff never get other reporters' links (whoever holds one may rate the work)."""
    if not case.reporter_id or case.reporter_id != getattr(user, "pk", None):
        return ""
    row = CaseReporter.objects.filter(original_case=case).order_by("pk").only("follow_token").first()
    return qr.follow_link(row.follow_token, request) if row else ""


@official_language
def export(user, number: str, request=None) -> tuple[bytes, str]:
    """The case file of a case in the user's scope (404 otherwise), recorded in the audit trail as an export."""
    case = selectors.case_detail(user, number)
    label = getattr(user, "display_name", "") or user.get_username()
    body = build(case, generated_by=label, follow_link=reporter_link(case, user, request))
    record(actor=user, action=verbs.Data.EXPORTED, target=case,
           data={"format": "pdf", "document": "case_file", "photos": min(len(case.attachments.all()), MAX_PHOTOS)})
    return body, f"case-{case.number}.pdf"
