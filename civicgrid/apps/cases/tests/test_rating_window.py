"""A closing is rated within the rating days after it (`CIVICGRID_RATING_DAYS`, by default the reopen days).

The tester's case: closed 9 days ago, its reopening rightly refused after the 7 days, it still took a rating by its
follow link, changing its 满意度 long after its period. Now the rating is refused too, with a message saying so, and
nothing changes; the follow page states until when it may be rated, and once past, that the time is over."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case, CaseReporter
from civicgrid.apps.cases.services import follow_status, rate
from civicgrid.foundation.core.errors import Conflict

from .conftest import close_loop, report, world_counts

pytestmark = pytest.mark.django_db

TOO_LATE = "评价期限已过（结案后 7 天），不能再评价"


def _closed_days_ago(loop, days: float) -> tuple[Case, str]:
    case = close_loop(loop, report(loop, actor=loop.resident, source="public"))
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=days))
    case.refresh_from_db()
    return case, CaseReporter.objects.get(original_case=case).follow_token


def test_a_closing_past_its_rating_days_takes_no_rating(loop, client, settings):
    settings.CIVICGRID_REOPEN_DAYS = 7
    case, token = _closed_days_ago(loop, 9)
    before = world_counts()
    response = client.post(f"/follow/{token}/reopen/", {"reason": "又坏了"})
    assert response.status_code == 409  # as it was
    response = client.post(f"/follow/{token}/rate/", {"score": "1", "comment": "太慢了",
                                                      "idempotency_key": uuid.uuid4().hex})
    html = response.content.decode()
    assert response.status_code == 409 and TOO_LATE in html and "/ the 7 days" not in html
    assert 'id="rate"' not in html and "评价期限已过（结案后 7 天）" in html
    api = client.post(f"/api/v1/follow/{token}/rating", {"score": 1}, content_type="application/json")
    assert api.status_code == 409 and api.json()["detail"].startswith(TOO_LATE)
    with pytest.raises(Conflict, match="评价期限已过"):
        rate(follow_token=token, score=1)
    assert world_counts() == before
    case.refresh_from_db()
    assert case.satisfaction is None and not case.steps.filter(action="rate").exists()
    status = follow_status(token)
    assert (status["can_rate"], status["rate_expired"]) == (False, True)
    assert status["rate_until"] == case.closed_at + timedelta(days=7)


def test_within_the_rating_days_the_page_says_until_when(loop, client, settings):
    settings.CIVICGRID_REOPEN_DAYS = 7
    case, token = _closed_days_ago(loop, 6)
    until = timezone.localtime(case.closed_at + timedelta(days=7))
    page = client.get(f"/follow/{token}/").content.decode()
    assert 'id="rate"' in page and f"请在 {until:%Y-%m-%d %H:%M} 前评价" in page
    assert client.get(f"/api/v1/follow/{token}").json()["rate_until"] is not None
    response = client.post(f"/follow/{token}/rate/", {"score": "4", "idempotency_key": uuid.uuid4().hex})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.satisfaction == 4
    # rated in time: the page shows the rating, and no "time is over" once the days pass
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=9))
    page = client.get(f"/follow/{token}/").content.decode()
    assert 'data-rating="4"' in page and "data-rate-expired" not in page


def test_a_rating_resent_after_the_days_answers_as_it_did_in_time(loop, settings):
    """The form's one-time key: a rating made in time and sent again later (its answer lost) is not refused."""
    settings.CIVICGRID_REOPEN_DAYS = 7
    case, token = _closed_days_ago(loop, 6)
    key = uuid.uuid4().hex
    rate(follow_token=token, score=5, idempotency_key=key)
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=9))
    before = world_counts()
    assert rate(follow_token=token, score=5, idempotency_key=key).rating == 5
    assert world_counts() == before


@pytest.mark.parametrize(("reopen_days", "rating_days", "closed_days_ago", "rates"), [
    (7, 30, 9, True),  # a district that asks for ratings longer than it reopens
    (7, 30, 31, False),
    (3, None, 4, False),  # unset: the reopen days
    (3, None, 2, True),
    (7, 0, 0.01, False),  # 0 closes rating
])
def test_the_rating_days_are_configurable(loop, settings, reopen_days, rating_days, closed_days_ago, rates):
    settings.CIVICGRID_REOPEN_DAYS = reopen_days
    settings.CIVICGRID_RATING_DAYS = rating_days
    case, token = _closed_days_ago(loop, closed_days_ago)
    assert follow_status(token)["can_rate"] is rates
    if rates:
        rate(follow_token=token, score=3)
        case.refresh_from_db()
        assert case.satisfaction == 3
    else:
        before = world_counts()
        days = reopen_days if rating_days is None else rating_days
        with pytest.raises(Conflict, match=f"评价期限已过（结案后 {days} 天）"):
            rate(follow_token=token, score=3)
        assert world_counts() == before
