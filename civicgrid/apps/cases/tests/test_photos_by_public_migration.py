"""Migration 0024: the 补充照片 steps taken before `by_public` was recorded are marked by the roles their actor held
then, so that the steps already in the timelines say who wrote their note (`written_by_public`; staff read every
note masked, `note_for_staff`)."""

import importlib

import pytest
from django.apps import apps

from civicgrid.apps.cases.models import CaseStep

from .conftest import jpeg, report

pytestmark = pytest.mark.django_db
migration = importlib.import_module("civicgrid.apps.cases.migrations.0024_add_photos_by_public")


def test_the_steps_before_the_flag_are_marked_by_their_actors_roles(loop):
    from civicgrid.apps.cases.services import add_photos

    public = report(loop, actor=loop.resident, source="public")
    add_photos(actor=loop.resident, case=public, photos=[jpeg()], note="请回电13700000001")
    add_photos(actor=loop.worker, case=public, photos=[jpeg()], note="物业电话13912345678")
    steps = CaseStep.objects.filter(action="add_photos").order_by("id")
    for step in steps:  # as the code before 0024 left them
        step.data = {k: v for k, v in step.data.items() if k != "by_public"}
        step.save(update_fields=["data"])
    assert [s.written_by_public for s in steps.all()] == [False, False]

    migration.mark(apps, None)
    migration.mark(apps, None)  # run again: the same
    assert [s.data["by_public"] for s in steps.all()] == [True, False]
    assert [s.written_by_public for s in steps.all()] == [True, False]
    assert [s.note_for_staff() for s in steps.all()] == ["请回电137****0001", "物业电话139****5678"]
