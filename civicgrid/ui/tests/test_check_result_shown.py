"""核实反馈's result (属实 / 不属实) is what intake decides 立案 or 不予受理 by: the case page and the case file say it
whatever the grid worker wrote beside it. (Both returns lead to 待受理, and a note took the result's place on the
timeline, so a 核实反馈 with a note did not say whether the report held.)"""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse
from pypdf import PdfReader

from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import loop, report  # noqa: F401

pytestmark = pytest.mark.django_db


def _step_html(client, case) -> str:
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    return re.search(r"<strong>[^<]*(?:核实反馈|Check result)[^<]*</strong>.*?</li>", html, re.S).group(0)


@pytest.mark.parametrize(("result", "zh"), [("confirmed", "核实结果：属实"), ("unconfirmed", "核实结果：不属实")])
def test_the_result_of_a_check_with_a_note_is_shown_on_the_page_and_in_the_case_file(loop, client_for, result, zh):
    case = report(loop, category=None)
    act(actor=loop.dispatcher, case=case, action="check_request")
    act(actor=loop.worker, case=case, action="check_result", result=result, note="已到现场查看")
    client = client_for(loop.dispatcher)
    step = _step_html(client, case)
    assert "已到现场查看" in step and zh in step, step
    body = client.get(reverse("ui:case_file_pdf", args=[case.number])).content
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages).replace("\n", "").replace(" ", "")
    assert "已到现场查看" in text and zh in text


def test_a_check_without_a_note_says_its_result_once(loop, client_for):
    case = report(loop, category=None)
    act(actor=loop.dispatcher, case=case, action="check_request")
    act(actor=loop.worker, case=case, action="check_result", result="unconfirmed")
    step = _step_html(client_for(loop.dispatcher), case)
    assert step.count("不属实") == 1, step
