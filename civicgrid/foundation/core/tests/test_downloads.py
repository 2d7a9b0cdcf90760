"""file_response: a download's name survives any language (RFC 6266 / 5987) and cannot break the header."""

from email.message import Message
from email.utils import collapse_rfc2231_value

import pytest
from django.urls import reverse
from django.utils.http import parse_header_parameters

from civicgrid.foundation.core.downloads import (
    JPEG_TYPE,
    PDF_TYPE,
    XLSX_TYPE,
    ascii_filename,
    file_or_refusal,
    file_response,
    inline_response,
)
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed

BODY = b"PK\x03\x04 not really a workbook"


def sent_headers(response) -> str:
    """The header block as it goes on the wire (Django writes it as Latin-1; anything else raises)."""
    return response.serialize_headers().decode("latin-1")


def parsed(response) -> tuple[str, dict]:
    """(disposition, parameters) as Django reads such a header back (filename* wins over filename)."""
    return parse_header_parameters(response["Content-Disposition"])


def email_params(response) -> dict:
    """The parameters as the standard library's mail parser reads them: the plain one and the RFC 2231 one."""
    message = Message()
    message["Content-Disposition"] = response["Content-Disposition"]
    plain, extended = [value for key, value in message.get_params(header="content-disposition") if key == "filename"]
    return {"plain": plain, "extended": collapse_rfc2231_value(extended)}


def test_ascii_name_is_sent_as_it_is_with_the_download_headers():
    response = file_response(BODY, "audit-20260501-120000.csv", "text/csv; charset=utf-8")

    assert response.status_code == 200 and response.content == BODY
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"audit-20260501-120000.csv\"; filename*=UTF-8''audit-20260501-120000.csv"
    )
    assert response["Content-Length"] == str(len(BODY))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"
    assert parsed(response) == ("attachment", {"filename": "audit-20260501-120000.csv"})


@pytest.mark.parametrize("name, stand_in", [
    ("人员-全部-202605011200.xlsx", "202605011200.xlsx"),
    ("居民导入模板.xlsx", "download.xlsx"),
    ("平城区 隐患整改台账（2026年）.xlsx", "(2026_).xlsx"),
    ("Résumé.pdf", "Resume.pdf"),
])
def test_a_chinese_name_comes_back_exactly_and_the_header_stays_latin1(name, stand_in):
    response = file_response(BODY, name, XLSX_TYPE)

    header = response["Content-Disposition"]
    assert header.isascii() and "=?utf-8?" not in header.lower()  # not MIME-encoded as a whole
    assert f"Content-Disposition: {header}\r\n" in sent_headers(response)
    assert parsed(response) == ("attachment", {"filename": name})
    assert email_params(response) == {"plain": stand_in, "extended": name}
    assert ascii_filename(name) == stand_in


@pytest.mark.parametrize("name", [
    'report"; filename="evil.exe',
    "a\r\nSet-Cookie: session=stolen\r\n.csv",
    "back\\slash\\\".xlsx",
    "../../etc/passwd",
    "\u202egpj.exe",  # a right-to-left override would show the name backwards
    "50%25 done; it's.xlsx",
])
def test_quotes_newlines_and_separators_cannot_break_the_header(name):
    response = file_response(BODY, name, XLSX_TYPE)

    wire = sent_headers(response)
    assert "Set-Cookie" not in response.headers and "\r\nSet-Cookie" not in wire
    assert wire.count("\r\n") == len(response.headers) - 1  # one line a header, nothing smuggled in
    disposition, params = parsed(response)
    assert disposition == "attachment" and list(params) == ["filename"]
    assert not any(ch in params["filename"] for ch in "\r\n/\\\u202e")
    plain = email_params(response)["plain"]
    assert plain.isascii() and not any(ch in plain for ch in '"\\/%;\r\n')
    assert response['Content-Disposition'].count('"') == 2


def test_only_unsafe_characters_are_replaced_in_the_exact_name():
    response = file_response(BODY, 'a"b\r\nc/d.xlsx', XLSX_TYPE)

    assert parsed(response)[1]["filename"] == 'a"b__c_d.xlsx'


@pytest.mark.parametrize("name", ["", "   ", "\r\n"])
def test_an_empty_name_becomes_download(name):
    response = file_response(BODY, name, PDF_TYPE)

    assert parsed(response)[1]["filename"] == "download"
    assert email_params(response)["plain"] == "download"


JPEG = b"\xff\xd8\xff\xe0 not really a photo"


@pytest.fixture
def stored_photo(tmp_path):
    """An open handle on a stored photo, named like the stored path (which must not reach the client)."""
    path = tmp_path / "hazards" / "2026" / "05" / "3f2a9c.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(JPEG)
    with path.open("rb") as handle:
        yield handle


def test_an_inline_photo_with_an_ascii_name_is_shown_with_its_safe_headers(stored_photo):
    response = inline_response(stored_photo, "C2026050100001-17.jpg", JPEG_TYPE)

    assert response.status_code == 200 and b"".join(response.streaming_content) == JPEG
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == (
        "inline; filename=\"C2026050100001-17.jpg\"; filename*=UTF-8''C2026050100001-17.jpg"
    )
    assert parsed(response) == ("inline", {"filename": "C2026050100001-17.jpg"})
    assert response["Content-Length"] == str(len(JPEG))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["Cache-Control"] == "private, max-age=3600"


def test_an_inline_photo_with_a_chinese_name_comes_back_exactly_and_the_header_stays_latin1(stored_photo):
    name = "平城区隐患-整改前（1）.jpg"
    response = inline_response(stored_photo, name, JPEG_TYPE)

    header = response["Content-Disposition"]
    assert header.isascii() and "=?utf-8?" not in header.lower() and "3f2a9c" not in header
    assert f"Content-Disposition: {header}\r\n" in sent_headers(response)
    assert parsed(response) == ("inline", {"filename": name})
    assert email_params(response) == {"plain": "(1).jpg", "extended": name}


def test_a_refusal_is_its_message_as_plain_text_with_its_status():
    def refuse():
        raise PermissionDenied("您无权导出 / you may not export")

    refused = file_or_refusal(refuse, XLSX_TYPE)
    assert refused.status_code == 403 and "Content-Disposition" not in refused
    assert refused["Content-Type"] == "text/plain; charset=utf-8"
    assert refused.content.decode() == "您无权导出 / you may not export"

    def invalid():
        raise ValidationFailed("日期无效 / bad date")

    explained = file_or_refusal(invalid, XLSX_TYPE, lambda exc: exc.message.partition(" / ")[0])
    assert explained.status_code == 400 and explained.content.decode() == "日期无效"

    served = file_or_refusal(lambda: (BODY, "事件台账.xlsx"), XLSX_TYPE)
    assert served.status_code == 200 and served.content == BODY
    assert parsed(served)[1]["filename"] == "事件台账.xlsx"


@pytest.mark.django_db
def test_a_page_download_with_a_chinese_name_reaches_the_client_intact(client, tree):
    from civicgrid.foundation.people.tests.factories import users

    client.force_login(users(tree)["community"])
    response = client.get(reverse("ui:import_template", args=["resident"]))

    assert response.status_code == 200 and response["Content-Type"] == XLSX_TYPE
    name = parsed(response)[1]["filename"]
    assert name.endswith("导入模板.xlsx") and not name.isascii()
    assert response["Content-Length"] == str(len(response.content))
    assert response["X-Content-Type-Options"] == "nosniff" and response["Cache-Control"] == "no-store"
