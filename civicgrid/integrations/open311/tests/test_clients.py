"""Clients: created and deactivated by system administrators (or the command line), keys stored hashed."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.formats import Open311Error
from civicgrid.integrations.open311.models import Open311Client, hash_key
from civicgrid.testing.builders import user_with

from .conftest import KEY, get, spec_error

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


@override_settings(CIVICGRID_OPEN311_CLIENT_CACHE_SECONDS=60)
def test_a_looked_up_client_is_cached_as_its_column_values_and_read_back_without_a_query(
        o311, django_assert_num_queries):
    first = services.authenticate(KEY)
    cached = cache.get(services.client_cache_key(hash_key(KEY)))
    assert cached[0] == tuple(f.attname for f in Open311Client._meta.concrete_fields)
    assert type(cached[1]) is tuple and cached[1][0] == o311.client.pk  # plain values, no pickled row
    with django_assert_num_queries(0):
        again = services.authenticate(KEY)
    assert again is not first and again.pk == first.pk and not again._state.adding
    assert [getattr(again, f.attname) for f in Open311Client._meta.concrete_fields] == \
        [getattr(first, f.attname) for f in Open311Client._meta.concrete_fields]
    # Deactivated in this process: its entry goes, the next call reads the row and refuses the key.
    services.deactivate_client(actor=None, client=o311.client)
    with pytest.raises(Open311Error) as refused:
        services.authenticate(KEY)
    assert refused.value.status == 403


@override_settings(CIVICGRID_OPEN311_CLIENT_CACHE_SECONDS=60)
@pytest.mark.parametrize("stale", ["the row itself", ("stale", "shape"), (("id", "name"), (1, "别的客户端"))])
def test_an_entry_of_another_shape_is_not_trusted(o311, django_assert_num_queries, stale):
    # e.g. left in a shared cache by another version: the row itself, or values of other columns
    cache.set(services.client_cache_key(hash_key(KEY)), o311.client if stale == "the row itself" else stale)
    with django_assert_num_queries(1):
        client = services.authenticate(KEY)
    assert client.pk == o311.client.pk and client.name == o311.client.name
    assert cache.get(services.client_cache_key(hash_key(KEY)))[1][0] == o311.client.pk
