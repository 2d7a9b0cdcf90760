"""Migration 0029: the masked copies written before `pii.scrub` read numbers with spaced dashes
("138 - 1234 - 5678") are written again: a case's `title_masked` and the inbox messages about a case."""

import importlib

import pytest
from django.apps import apps

from civicgrid.apps.cases.models import Case
from civicgrid.foundation.notify.models import Notification

from .conftest import report

pytestmark = pytest.mark.django_db
migration = importlib.import_module("civicgrid.apps.cases.migrations.0029_remask_spaced_phone_titles")

SPACED = "楼道堆物 联系电话 138 - 1234 - 5678"
MASKED = "楼道堆物 联系电话 138****5678"


def test_titles_and_case_messages_masked_before_keep_no_spaced_number_in_clear(loop):
    spaced = report(loop, title=SPACED)
    assert spaced.title_masked == MASKED  # intake masks it now
    landline = report(loop, title="噪音扰民 座机0352 - 1234567")
    plain = report(loop, title="路灯不亮 2026 - 11 - 30")
    # as the scrub before this change wrote them
    Case.objects.filter(pk=spaced.pk).update(title_masked=SPACED)
    Case.objects.filter(pk=landline.pk).update(title_masked="噪音扰民 座机0352 - 1234567")
    about_case = Notification.objects.create(user=loop.dispatcher, kind="new_task", title="新任务：1",
                                             body=SPACED, body_en="call 0352 - 1234567", target_type="cases.case",
                                             target_id=str(spaced.pk))
    other = Notification.objects.create(user=loop.dispatcher, kind="account", title="账号", body=SPACED)

    migration.remask(apps, None)
    migration.remask(apps, None)  # run again: the same

    assert dict(Case.objects.values_list("pk", "title_masked")) == {
        spaced.pk: MASKED, landline.pk: "噪音扰民 座机0352-****567", plain.pk: "路灯不亮 2026 - 11 - 30"}
    about_case.refresh_from_db()
    assert (about_case.body, about_case.body_en) == (MASKED, "call 0352-****567")
    other.refresh_from_db()
    assert other.body == SPACED  # not a message about a case: never scrubbed, left as written
