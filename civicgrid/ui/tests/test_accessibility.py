"""Keyboard and screen-reader details of the pages, checked in their HTML (the browser tests in
tests/browser/test_accessibility.py check focus and what Chromium does with them).

A refused action on the case page names its input: the message stands beside the input, which says it is
invalid (`aria-invalid`), points at the message (`aria-describedby`) and takes the focus (`autofocus`), in every
action form. The reporter's revealed contact can take the focus; the board is not one live region; the language
is switched by a button; every page starts with a link to its content; the 已合并 badge is readable."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.apps.cases.tests.conftest import loop, world_counts  # noqa: F401
from civicgrid.apps.cases.workflow import allowed_actions
from civicgrid.ui.pages.cases_detail import action_forms
from civicgrid.ui.tests.test_cases_pages import _at, post_action

pytestmark = pytest.mark.django_db


def _control(html: str, form: str, name: str) -> str:
    """The opening tag of input `name` in the form of action `form`."""
    block = re.search(rf'<form [^>]*data-action-form="{form}">(.*?)</form>', html, re.S)
    assert block, form
    tag = re.search(rf'<(?:textarea|input|select)\b[^>]*\bname="{name}"[^>]*>', block.group(1))
    assert tag, (form, name)
    return tag.group(0)


def _error_beside(html: str, form: str, name: str) -> str:
    """The id and text of the message drawn beside input `name` of action `form`."""
    block = re.search(rf'<form [^>]*data-action-form="{form}">(.*?)</form>', html, re.S).group(1)
    found = re.search(rf'<p class="error field-error" id="([^"]+)" data-field-error="{name}">([^<]*)</p>', block)
    assert found, (form, name)
    return found.groups()


@pytest.mark.parametrize(("state", "who", "action", "name", "label"), [
    ("handled", "worker", "rework", "reason", "原因"),
    ("handled", "leader", "supervise", "note", "说明"),
    ("accepted", "dispatcher", "dispatch", "department", "处置部门"),
    ("handling", "handler", "request_extension", "reason", "原因"),
    ("handled", "worker", "verify", "photos", "现场照片"),
])
def test_a_refused_action_ties_its_message_to_the_input_and_focuses_it(state, who, action, name, label, loop,
                                                                       client_for):
    case = _at(loop, state)
    before = world_counts()
    data = {"reason": "  ", "note": "  "} if name != "note" else {"note": "  "}
    if action == "request_extension":
        data["hours"] = "2"
    response = post_action(client_for(getattr(loop, who)), case, action, **data)
    assert response.status_code == 422
    assert world_counts() == before
    html = response.content.decode()
    error_id, text = _error_beside(html, action, name)
    assert text == f"请填写「{label}」"
    tag = _control(html, action, name)
    assert 'aria-invalid="true"' in tag and f'aria-describedby="{error_id}"' in tag and " autofocus" in tag
    # only that input: one autofocus on the page, no other input marked invalid
    assert html.count(" autofocus") == 1 and html.count('aria-invalid="true"') == 1
    assert f'data-action="{action}" open' in html


def test_a_refusal_without_an_input_stays_at_the_top_only(loop, client_for):
    case = _at(loop, "accepted")
    response = post_action(client_for(loop.dispatcher), case, "close")
    assert response.status_code == 409
    html = response.content.decode()
    assert 'data-error>' in html and "data-field-error" not in html and "aria-invalid" not in html


def test_every_action_form_draws_an_error_beside_each_of_its_inputs(loop, client_for, rf):
    """Each widget of every form the case page can draw carries the tie when its input is the one refused (the
    template has one branch per widget)."""
    from django.template.loader import render_to_string

    from civicgrid.ui.pages.cases_detail import detail_context

    seen = set()
    for state, who in (("reported", "dispatcher"), ("checking", "worker"), ("accepted", "dispatcher"), ("handling", "handler"),
                       ("handled", "worker"), ("handled", "leader")):
        case = _at(loop, state)
        user = getattr(loop, who)
        request = rf.get("/")
        request.user = user
        for form in action_forms(case, user, None, allowed_actions(case, user)):
            for field in form["fields"]:
                context = detail_context(request, case, failed_action=form["name"], posted={},
                                         error="请填写", error_field=field["name"])
                html = render_to_string("cases/partials/actions.html", context, request=request)
                error_id, _text = _error_beside(html, form["name"], field["name"])
                tag = _control(html, form["name"], field["name"])
                described = re.search(r'aria-describedby="([^"]*)"', tag)  # the message, and a hint if any
                assert 'aria-invalid="true"' in tag and described and error_id in described.group(1).split(), tag
                seen.add(field["widget"])
    assert {"textarea", "text", "department", "choice", "category", "photos", "number", "flag"} <= seen, seen


def test_the_revealed_contact_can_take_the_focus(loop, client_for):
    case = _at(loop, "accepted")
    case.reporter_name = "张三"
    case.save(update_fields=["reporter_name"])
    response = client_for(loop.dispatcher).post(reverse("ui:case_reveal_contact", args=[case.number]),
                                                HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content.decode()[:300]
    html = response.content.decode()
    assert re.search(r'<span class="contact-result" tabindex="-1" data-contact-result>.*张三', html, re.S)


def test_every_page_starts_with_a_skip_link_and_switches_language_by_a_button(loop, client_for):
    html = client_for(loop.dispatcher).get(reverse("ui:home")).content.decode()
    body = html[html.index("<body"):]
    first_link = re.search(r"<a [^>]*>", body).group(0)
    assert 'href="#content"' in first_link and "skip-link" in first_link
    assert re.search(r'<main class="content" id="content" tabindex="-1">', html)
    lang = re.search(r'<form class="lang".*?</form>', html, re.S).group(0)
    assert "data-autosubmit" not in lang and re.search(r'<button type="submit" aria-label="切换语言"[^>]*>切换</button>', lang)


def test_the_language_switch_works_without_script(loop, client_for):
    c = client_for(loop.dispatcher)
    response = c.post(reverse("set_language"), {"language": "en", "next": reverse("ui:home")})
    assert response.status_code == 302
    html = c.get(reverse("ui:home")).content.decode()
    assert '<html lang="en">' in html and "data-language-submit" in html


def _luminance(hex_colour: str) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(x * 2 for x in h)
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_every_status_badge_has_a_contrast_of_at_least_4_5():
    from pathlib import Path

    import civicgrid.ui

    css = (Path(civicgrid.ui.__file__).parent / "templates/cases/partials/styles.html").read_text()
    rules = re.findall(r"\.status\.(st-[a-z]+) \{ background:(#[0-9a-f]+); color:(#[0-9a-f]+);", css)
    assert {r[0] for r in rules} >= {"st-new", "st-work", "st-check", "st-done", "st-hold", "st-off"}
    for name, background, colour in rules:
        lighter, darker = sorted((_luminance(background), _luminance(colour)), reverse=True)
        assert (lighter + 0.05) / (darker + 0.05) >= 4.5, name


def test_the_board_is_not_one_live_region(client_for, loop):
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    command = user_with(Role.COMMAND_DISPATCHER, region=loop.tree["140213"], username="board-cd")
    html = client_for(command).get(reverse("ui:board")).content.decode()
    figures = re.search(r'<section id="board-figures"[^>]*>', html).group(0)
    assert "aria-live" not in figures
    announce = re.search(r'<p id="board-announce"[^>]*>(.*?)</p>', html, re.S)
    assert 'aria-live="polite"' in announce.group(0) and announce.group(1) == ""
    assert re.search(r'data-overdue-total="\d+"', html)
    assert "Not a live region" not in html and "{#" not in html  # the template's note stays a comment


def test_the_desk_report_form_ties_its_messages_and_focuses_the_first_refused_input(loop, client_for):
    """/cases/new/: Django marks a refused input (aria-invalid, aria-describedby="<id>_error"); the message
    carries that id, and the first refused input in the form's order takes the focus."""
    before = world_counts()
    response = client_for(loop.dispatcher).post(reverse("ui:case_new"), {
        "source": "web", "title": "", "description": "", "lng": "abc", "lat": "40.01", "crs": "wgs84",
        "idempotency_key": "k1"})
    assert response.status_code == 400
    assert world_counts() == before
    html = response.content.decode()
    title = re.search(r'<input [^>]*name="title"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in title and 'aria-describedby="id_title_error"' in title and "autofocus" in title
    assert re.search(r'<span class="error" id="id_title_error">[^<]+</span>', html)
    lng = re.search(r'<input [^>]*name="lng"[^>]*>', html).group(0)
    assert 'aria-describedby="id_lng_error"' in lng and "autofocus" not in lng
    assert re.search(r'<p class="error" id="id_lng_error">[^<]+</p>', html)
    assert html.count("autofocus") == 1
