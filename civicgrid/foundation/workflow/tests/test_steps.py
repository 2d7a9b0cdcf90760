"""Every timeline (cases, hazards, rescue incidents) names its actors and trims its notes the same way, through
`TimelineStep.entry`/`record_step`."""

from __future__ import annotations

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import CaseStep
from civicgrid.apps.hazards.models import HazardStep
from civicgrid.apps.rescue.models import IncidentStep
from civicgrid.foundation.access.models import User
from civicgrid.foundation.workflow.steps import MAX_NOTE, TimelineStep


def test_the_three_timelines_share_the_shape():
    for model in (CaseStep, HazardStep, IncidentStep):
        assert issubclass(model, TimelineStep)
        names = {f.name for f in model._meta.get_fields()}
        assert {"action", "from_status", "to_status", "actor", "actor_name", "note", "data", "at"} <= names
        assert model._meta.ordering == ["at", "id"]


@pytest.mark.django_db
def test_entry_names_the_actor_and_trims_the_note():
    user = User.objects.create_user(username="wg001", password="x-Long-enough-1", display_name="网格员 李四")
    by_user = CaseStep.entry(action="note", actor=user, note="x" * (MAX_NOTE + 10), data={})
    assert by_user.actor == user and by_user.actor_name == "网格员 李四"
    assert len(by_user.note) == MAX_NOTE and by_user.data is None and by_user.at <= timezone.now()
    by_part = HazardStep.entry(action="note", actor="open311:FixMyStreet")
    assert by_part.actor is None and by_part.actor_name == "open311:FixMyStreet"
    by_system = IncidentStep.entry(action="ack_overdue", actor=None, data={"clock": 7})
    assert by_system.actor is None and by_system.actor_name == "system" and by_system.data == {"clock": 7}
