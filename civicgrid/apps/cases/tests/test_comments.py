"""留言 through the public `comment` service: by the reporter's link, by an account that sees the case, or by an
authenticated channel; audited and published; anything else refused with nothing changed."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import CaseReporter, CaseStep
from civicgrid.apps.cases.services import comment
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import NotFound, ValidationFailed
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.testing.builders import user_with

from .conftest import OTHER_STREET_POINT, report, world_counts

pytestmark = pytest.mark.django_db


def _token(case) -> str:
    return CaseReporter.objects.get(original_case=case).follow_token


def test_a_reporter_comments_through_their_link(loop):
    case = report(loop, actor=None, source="public", reporter_phone="13700000009")
    step = comment(case=case, text="  垃圾又多了 \n", reporter_token=_token(case), channel="follow")
    assert (step.action, step.note, step.actor_id, step.actor_name) == ("comment", "垃圾又多了", None, "reporter")
    assert step.data["channel"] == "follow" and step.data["by_reporter"] is True
    assert step.from_status == case.status and step.to_status == ""
    entry = AuditEntry.objects.get(action="cases.comment", target_id=str(case.pk))
    assert entry.data["by_reporter"] is True and "13700000009" not in str(entry.data)
    event = OutboxEvent.objects.get(topic="case.commented", aggregate_id=str(case.pk))
    assert event.payload["step_id"] == step.pk and event.payload["channel"] == "follow"


def test_accounts_that_see_the_case_and_authenticated_channels_may_comment(loop):
    mine = report(loop, actor=loop.resident, source="public", lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    step = comment(actor=loop.resident, case=mine, text="还没人来", channel="app")
    assert step.actor_id == loop.resident.pk and step.data["by_reporter"] is True
    staff = comment(actor=loop.dispatcher, case=mine, text="已联系街道", channel="web")
    assert staff.data["by_reporter"] is False
    via = comment(actor="open311:城市 App", case=mine, text="图片见链接", channel="open311",
                  media_url="https://example.org/p.jpg", data={"client": 7})
    assert via.actor_name == "open311:城市 App" and via.data["media_url"].endswith("p.jpg") and via.data["client"] == 7
    assert CaseStep.objects.filter(case=mine, action="comment").count() == 3


@pytest.mark.parametrize("label", ["nobody", "stranger", "other case's token", "bad token", "empty", "too long",
                                   "bad channel", "NUL", "NUL in media_url"])
def test_refused_comments_change_nothing(loop, label):
    case = report(loop)
    other = report(loop, title="另一件")
    stranger = user_with(Role.RESIDENT, region=loop.tree["140213051001001"], username="far")
    kwargs = {
        "nobody": {},
        "stranger": {"actor": stranger},
        "other case's token": {"reporter_token": _token(other)},
        "bad token": {"reporter_token": "x" * 32},
        "empty": {"actor": loop.dispatcher, "text": " \n "},
        # refused, not dropped: PostgreSQL cannot store it (a 500), and the sender must know (`core.text`)
        "NUL": {"actor": loop.dispatcher, "text": "垃圾\x00又多了"},
        "NUL in media_url": {"actor": loop.dispatcher, "media_url": "https://example.org/\x00.jpg"},
        "too long": {"actor": loop.dispatcher, "text": "长" * 4001},
        "bad channel": {"actor": loop.dispatcher, "channel": "pigeon"},
    }[label]
    before = world_counts()
    expected = ValidationFailed if label in ("empty", "too long", "bad channel", "NUL", "NUL in media_url") else NotFound
    with pytest.raises(expected):
        comment(case=case, **{"text": "看看", **kwargs})
    assert world_counts() == before
