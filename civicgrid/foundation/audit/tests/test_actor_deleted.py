"""Deleting an account leaves its audit records as they were."""

import pytest

from civicgrid.foundation.access.models import User
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import record

pytestmark = pytest.mark.django_db


def test_deleting_an_actor_keeps_the_trail_unchanged():
    user = User.objects.create_user(username="leaver", password="x")
    entry = record(actor=user, action="config.changed")
    user_pk = user.pk
    user.delete()
    kept = AuditEntry.objects.get(pk=entry.pk)
    assert kept.actor_id == user_pk and kept.actor_name == "leaver"
