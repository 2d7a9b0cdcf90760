"""What Open311 callers told about their reporters goes with the case's reporter data (core.retention)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case, Status
from civicgrid.foundation.core import retention
from civicgrid.integrations.open311.models import Open311Request

from .conftest import form, post

pytestmark = pytest.mark.django_db


def test_the_callers_ids_go_with_the_reporters_data(o311, http):
    old = Case.objects.get(number=post(http, "requests.json", form(o311)).json()[0]["service_request_id"])
    new = Case.objects.get(number=post(http, "requests.json", form(o311, device_id="d-2")).json()[0]
                           ["service_request_id"])
    at = timezone.now() - timedelta(days=800)
    Case.objects.filter(pk=old.pk).update(status=Status.CLOSED, closed_at=at, updated_at=at)
    done = retention.apply()
    assert done["open311.request"] == 1 and done["cases.reporter"] == 1
    link = Open311Request.objects.get(case=old)
    assert (link.device_id_enc, link.account_id_enc, link.follow_token_enc) == ("", "", "")
    assert link.token and link.attributes == {"affects_traffic": "yes"}  # the rest of the link stays
    kept = Open311Request.objects.get(case=new)
    assert kept.device_id_enc and kept.account_id_enc
    assert Case.objects.get(pk=old.pk).reporter_name == "" and Case.objects.get(pk=new.pk).reporter_name == "张三"
