"""The header's unread-messages badge (the inbox page lives in `civicgrid.ui.pages.inbox`)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_badge(context) -> str:
    """A small count of the signed-in user's unread messages, or nothing (one COUNT query)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    from civicgrid.ui.pages.inbox import unread_count

    count = unread_count(user) if user is not None else 0
    if not count:
        return ""
    shown = "99+" if count > 99 else str(count)
    # Styled inline: the badge shows on every page, whose stylesheet belongs to the foundation.
    return format_html('<span class="badge" data-unread-badge="{}" style="display:inline-block;min-width:1.2rem;'
                       'padding:0 .35rem;margin-left:.25rem;border-radius:.6rem;background:#fff;color:#b4232a;'
                       'font-size:.75rem;font-weight:700;text-align:center">{}</span>', count, shown)
