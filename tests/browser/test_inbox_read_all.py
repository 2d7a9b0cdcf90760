"""「全部标为已读」 in a browser: a message that arrives while the reader looks at the inbox is not marked read by
the click (the page sends the newest message it counted), and the page says how many it marked."""
# ruff: noqa: F811  (the browser fixtures, imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.testing.browser import browser_db, sign_in

pytestmark = [pytest.mark.browser, browser_db]


def test_a_message_arriving_after_the_page_was_drawn_stays_unread(page):
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.notify.models import Notification
    from civicgrid.foundation.notify.services import notify
    from civicgrid.testing.builders import small_tree, user_with

    tree = small_tree()
    reader = user_with(Role.GRID_WORKER, region=tree["140213050001001"], username="reader")
    seen = [notify(reader, "note", f"第 {i} 条消息") for i in range(2)]
    pg = page
    sign_in(pg, "reader")
    pg.goto(f"{pg.base_url}/inbox/")
    pg.wait_for_selector("button[data-read-all]")
    later = notify(reader, "note", "刚刚到达的消息")  # while the page is open

    pg.click("button[data-read-all]")
    pg.wait_for_selector("ul.messages li.msg")

    assert pg.inner_text("ul.messages li.msg") == "已将 2 条消息标为已读。"
    assert pg.locator(f"tr[data-oid='{later.pk}'].unread").count() == 1
    assert pg.locator("tr.unread").count() == 1
    assert pg.get_attribute("[data-unread]", "data-unread") == "1"
    assert not Notification.objects.filter(pk__in=[n.pk for n in seen], read_at__isnull=True).exists()
    assert Notification.objects.get(pk=later.pk).read_at is None
