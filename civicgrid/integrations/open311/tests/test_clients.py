"""Clients: created and deactivated by system administrators (or the command line), keys stored hashed."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import Open311Client
from civicgrid.testing.builders import user_with

from .conftest import get, spec_error

pytestmark = pytest.mark.django_db


def test_client_administration_is_for_system_administrators(o311):
    with pytest.raises(PermissionDenied):
        services.create_client(actor=o311.dispatcher, name="x")
    admin = user_with(Role.SYSTEM_ADMIN)
    client, key = services.create_client(actor=admin, name="城市App")
    assert client.created_by == admin and key.startswith("o311_") and client.key_hash != key
    assert AuditEntry.objects.filter(action="open311.client_created", target_id=str(client.pk)).exists()


def test_the_command_adds_lists_and_deactivates_clients(o311, http):
    out = io.StringIO()
    call_command("open311_client", "add", "区政务App", "--rate", "30", stdout=out)
    key = out.getvalue().split("api_key=")[1].split()[0]
    client = Open311Client.objects.get(name="区政务App")
    assert client.rate_per_minute == 30 and key not in client.key_hash
    assert get(http, "services.json", api_key=key).status_code == 200
    out = io.StringIO()
    call_command("open311_client", "list", stdout=out)
    assert "区政务App" in out.getvalue() and key not in out.getvalue()
    call_command("open311_client", "deactivate", "区政务App", stdout=io.StringIO())
    spec_error(get(http, "services.json", api_key=key), 403)
