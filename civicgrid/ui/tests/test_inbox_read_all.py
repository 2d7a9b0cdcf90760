"""「全部标为已读」 marks all of the reader's unread messages read (not only the newest 500) in a fixed number of queries,
and reaches nothing else: other people's messages and the reader's already read ones keep what they had. It marks
what the page counted: a message that came in after the page was drawn stays unread."""

from __future__ import annotations

import re
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
    newest = [notify(user, "note", f"第 {i} 条") for i in range(size)][-1]
    client = client_for(user)
    with django_assert_num_queries(QUERIES):
        response = client.post(reverse("ui:inbox_read_all"), {"next": reverse("ui:inbox"), "up_to": newest.pk})
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


def _read_all_form(client) -> dict[str, str]:
    """The 「全部标为已读」 form's fields as the inbox page draws them."""
    html = client.get(reverse("ui:inbox")).content.decode()
    form = re.search(rf'<form method="post" action="{reverse("ui:inbox_read_all")}">(.*?)</form>', html, re.S)
    assert form is not None, "the page offers 「全部标为已读」"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(1)))
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def test_a_message_that_came_after_the_page_was_drawn_stays_unread(people, client_for):
    reader, other = people
    seen = [notify(reader, "note", f"第 {i} 条") for i in range(3)]
    client = client_for(reader)
    form = _read_all_form(client)
    assert form["up_to"] == str(seen[-1].pk)  # the newest unread message the page counted
    later = notify(reader, "note", "点击前刚到的消息")  # arrives while the reader looks at the page
    theirs = notify(other, "note", "别人的消息")

    response = client.post(reverse("ui:inbox_read_all"), form, follow=True)

    assert response.redirect_chain == [(reverse("ui:inbox"), 302)]
    assert not Notification.objects.filter(pk__in=[n.pk for n in seen], read_at__isnull=True).exists()
    assert Notification.objects.get(pk=later.pk).read_at is None  # never seen: still unread
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    page = response.content.decode()
    assert "已将 3 条消息标为已读。" in page
    assert f'<tr data-oid="{later.pk}" class="unread">' in page and 'data-unread="1"' in page
    # The page now counts the newcomer: the next click marks it.
    assert _read_all_form(client)["up_to"] == str(later.pk)
    assert services.mark_all_read(actor=reader, up_to=later.pk) == 1 and _unread(reader) == 0


def test_the_bound_is_the_newest_unread_message_whatever_page_or_filter_is_shown(people, client_for):
    reader, _other = people
    _many(reader, 120, "第")
    newest = notify(reader, "note", "最新一条")
    Notification.objects.filter(pk=newest.pk).update(read_at=timezone.now())  # read: not what the button marks
    newest_unread = Notification.objects.filter(user=reader, read_at__isnull=True).order_by("-pk").first()
    client = client_for(reader)
    for query in ("?page=3", "?unread=1&page=2"):
        html = client.get(reverse("ui:inbox") + query).content.decode()
        assert f'name="up_to" value="{newest_unread.pk}"' in html
    assert services.mark_all_read(actor=reader, up_to=newest_unread.pk) == 120


@pytest.mark.parametrize("bound", ["", "abc", "-1", "1.5", "１２", "9" * 19, " 5"])
def test_a_bound_that_is_no_message_id_changes_nothing_and_says_so(people, client_for, bound):
    reader, other = people
    mine = [notify(reader, "note", f"第 {i} 条") for i in range(2)]
    notify(other, "note", "别人的消息")

    response = client_for(reader).post(reverse("ui:inbox_read_all"), {"up_to": bound, "next": reverse("ui:inbox")},
                                       follow=True)

    assert response.redirect_chain == [(reverse("ui:inbox"), 302)]
    assert "「全部标为已读」的范围无效，没有消息被标为已读；请刷新页面后重试。" in response.content.decode()
    assert _unread(reader) == len(mine) and _unread(other) == 1


def test_other_callers_without_a_bound_still_mark_everything(people):
    reader, other = people
    _many(reader, 5, "第")
    notify(other, "note", "别人的消息")
    assert services.mark_all_read(actor=reader) == 5
    assert _unread(reader) == 0 and _unread(other) == 1
