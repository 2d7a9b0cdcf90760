"""A refused photo is named, with what to do about it: a phone sends several at once (the report page, 处置进展)
and the person must know which one to remove or replace. Nothing is created or changed."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.apps.cases.models import Attachment
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import POINT, jpeg, loop, report, world_counts  # noqa: F401

pytestmark = pytest.mark.django_db


def _files():
    return [SimpleUploadedFile("plain.jpg", jpeg(), content_type="image/jpeg"),
            SimpleUploadedFile("fake.jpg", b"%PDF-1.4 not a photo", content_type="image/jpeg"),
            SimpleUploadedFile("plain.png", jpeg(fmt="PNG"), content_type="image/png")]


def test_the_report_page_names_the_photo_it_refuses(loop, client_for):
    before = world_counts()
    response = client_for(loop.worker).post(reverse("ui:case_submit"), {
        "idempotency_key": str(uuid.uuid4()), "description": "小区门口垃圾堆放", "lng": str(POINT[0]),
        "lat": str(POINT[1]), "crs": "wgs84", "photos": _files()})
    detail = response.json()["detail"]
    assert response.status_code == 400 and "照片「fake.jpg」" in detail and "请删除或更换这张照片" in detail
    assert "plain" not in detail
    assert world_counts() == before


def test_progress_names_the_photo_it_refuses_and_keeps_the_note(loop, client_for):
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    case = act(actor=loop.handler, case=case, action="start")
    before = world_counts()
    response = client_for(loop.handler).post(reverse("ui:case_act", args=[case.number, "progress"]),
                                             {"note": "已到现场", "photos": _files()})
    html = response.content.decode()
    assert response.status_code == 400 and "照片「fake.jpg」" in html and "请删除或更换这张照片" in html
    assert world_counts() == before and not Attachment.objects.filter(case=case, kind="progress").exists()


def test_an_oversized_photo_is_named(loop, client_for, settings):
    settings.CIVICGRID_MAX_PHOTO_BYTES = 2000
    big = SimpleUploadedFile("huge.jpg", b"\xff\xd8\xff" + b"\0" * 5000, content_type="image/jpeg")
    client = client_for(loop.worker)
    response = client.post(reverse("ui:case_submit"), {
        "idempotency_key": str(uuid.uuid4()), "description": "x", "lng": str(POINT[0]), "lat": str(POINT[1]),
        "crs": "wgs84", "photos": [big]})
    detail = response.json()["detail"]
    assert response.status_code == 400 and "照片「huge.jpg」：照片过大" in detail and "请删除或更换" in detail
