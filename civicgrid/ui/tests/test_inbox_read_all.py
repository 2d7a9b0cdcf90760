"""「全部标为已读」 marks all of the reader's unread messages read (not only the newest 500) in a fixed number of queries,
and reaches nothing else: other people's messages and the reader's already read ones keep what they had."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.notify import services
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.notify.services import notify
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

GRID = "140213050001001"


def _unread(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


@pytest.fixture
def people(tree):
    reader = user_with(Role.GRID_WORKER, region=tree[GRID], username="reader")
    other = user_with(Role.GRID_WORKER, region=tree[GRID], username="other")
    return reader, other


def _post_read_all(client_for, user, size: int, django_assert_num_queries) -> None:
    for i in range(size):
        notify(user, "note", f"第 {i} 条")
    client = client_for(user)
    with django_assert_num_queries(QUERIES):
        response = client.post(reverse("ui:inbox_read_all"), {"next": reverse("ui:inbox")})
    assert response.status_code == 302 and response["Location"] == reverse("ui:inbox")


# The session and the account read, the one UPDATE, and the session's idle timer saved (a savepoint around
# it): the same for 3 messages as for 21 (one at a time, 21 messages took 48).
QUERIES = 6


@pytest.mark.parametrize("size", [3, 21])
def test_marking_all_read_takes_the_same_queries_however_many_messages(people, client_for, size,
                                                                     django_assert_num_queries):
    reader, other = people
    theirs = notify(other, "note", "别人的消息")
    earlier = timezone.now() - timedelta(days=2)
    already = notify(reader, "note", "早已读过")
    Notification.objects.filter(pk=already.pk).update(read_at=earlier)
    audit_before = AuditEntry.objects.count()

    _post_read_all(client_for, reader, size, django_assert_num_queries)

    assert _unread(reader) == 0
    assert Notification.objects.get(pk=already.pk).read_at == earlier  # its own time, not the click's
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert AuditEntry.objects.count() == audit_before  # reading one's own inbox writes no audit, as before


def _many(user, n: int, title: str) -> None:
    Notification.objects.bulk_create(Notification(user=user, kind="note", title=f"{title} {i}") for i in range(n))


def test_one_click_marks_every_unread_message_not_only_the_newest_500(people, client_for):
    reader, other = people
    _many(reader, 650, "第")
    _many(other, 30, "别人的")
    earlier = timezone.now() - timedelta(days=2)
    already = notify(reader, "note", "早已读过")
    Notification.objects.filter(pk=already.pk).update(read_at=earlier)
    assert _unread(reader) == 650

    response = client_for(reader).post(reverse("ui:inbox_read_all"), {"next": reverse("ui:inbox") + "?page=3"})

    assert response.status_code == 302 and response["Location"] == reverse("ui:inbox") + "?page=3"
    assert _unread(reader) == 0
    assert Notification.objects.get(pk=already.pk).read_at == earlier
    assert _unread(other) == 30  # another reader's messages are not reached
    assert services.mark_all_read(actor=reader) == 0  # nothing left for a second click


def test_read_all_is_refused_to_a_get_and_to_someone_signed_out(people, client, client_for):
    reader, other = people
    _many(reader, 600, "第")
    notify(other, "note", "一条")
    signed_out = client.post(reverse("ui:inbox_read_all"))
    assert signed_out.status_code == 302 and signed_out["Location"].startswith(reverse("ui:login"))
    opened = client_for(reader).get(reverse("ui:inbox_read_all"))  # opened as a page: the inbox, nothing marked
    assert opened.status_code == 302 and opened["Location"] == reverse("ui:inbox")
    assert _unread(reader) == 600 and _unread(other) == 1
