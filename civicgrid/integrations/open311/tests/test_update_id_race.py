"""One update_id, one update, also when a client's retries arrive together: the replay check runs before the
update's transaction, so two posts of the same update_id can both pass it; the second then meets the unique
`open311_update_external_id`, and is answered with the first one's update (its own writes rolled back), never a
500."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from civicgrid.apps.cases.models import CaseStep
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import Open311Update
from civicgrid.testing.concurrency import POSTGRES_RACE, race_same

from .conftest import post, world_counts
from .test_updates import reported, update_form


@pytest.mark.django_db
def test_a_retry_that_raced_past_the_replay_check_answers_with_the_first_update(o311, http, monkeypatch):
    """The first post commits between the retry's replay check and its INSERT (forced here, as a race would)."""
    case = reported(o311, http)
    real, seen = services._replayed, {}

    def racing(client, update, case):
        found = real(client, update, case)
        if not seen:  # the retry's check: the first post lands right after it
            seen["racing"] = True
            seen["first"] = services.post_update(client=client, update=update)
            seen["before"] = world_counts()
        return found

    monkeypatch.setattr(services, "_replayed", racing)
    response = post(http, "servicerequestupdates.json", update_form(case, update_id="cc-1", status="CLOSED"))
    assert response.status_code == 200, response.content
    assert response.json() == [{"update_id": str(seen["first"].pk)}]
    assert world_counts() == seen["before"]  # the retry's comment and row were rolled back
    assert Open311Update.objects.filter(external_id="cc-1").count() == 1
    # a racing retry that says something else is still the 409 a plain resend gets
    seen.clear()
    other = update_form(case, update_id="cc-2", status="CLOSED")
    params = {**other, "description": "另一段话"}

    def racing_other(client, update, case):
        found = real(client, update, case)
        if not seen:  # the first post of cc-2, with other words, lands right after the check
            seen["racing"] = True
            assert Client().post("/open311/v2/servicerequestupdates.json", params).status_code == 200
            seen["before"] = world_counts()
        return found

    monkeypatch.setattr(services, "_replayed", racing_other)
    response = post(http, "servicerequestupdates.json", other)
    assert response.status_code == 409 and world_counts() == seen["before"]


@POSTGRES_RACE[0]
@POSTGRES_RACE[1]
@POSTGRES_RACE[2]
def test_ten_concurrent_posts_of_one_update_id_make_one_update(o311):
    """Real requests in threads, each on its own connection, on PostgreSQL: the unique index makes the losers
    wait for the winner's commit. (SQLite's in-memory test database refuses concurrent writers outright, "table
    is locked"; the test above forces the same interleaving there.)"""
    cache.clear()
    case = reported(o311, Client())
    data = update_form(case, update_id="cc-1", status="CLOSED", description="还没有清理")
    responses = race_same(lambda i: Client().post("/open311/v2/servicerequestupdates.json", data), 10)
    assert [getattr(r, "status_code", r) for r in responses] == [200] * 10
    assert len({r.content for r in responses}) == 1
    assert Open311Update.objects.filter(external_id="cc-1").count() == 1
    assert CaseStep.objects.filter(case=case, action="comment").count() == 1
    cache.clear()
