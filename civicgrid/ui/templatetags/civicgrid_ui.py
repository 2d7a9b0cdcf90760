"""Template tags for the foundation's pages."""

from __future__ import annotations

from django import template
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("ui/partials/history_loader.html")
def object_history(obj):
    """A placeholder that htmx fills with the object's history once the page has loaded.

    The partial's URL fetches the object again through the scoped path, so the history is never shown to
    someone who could not open the object itself.
    """
    from civicgrid.ui.pages.audit import history_url_name

    target = history_url_name(obj) if obj is not None else None
    url = reverse(target[0], args=[target[1]]) if target else ""
    return {"history_url": url}


@register.filter(name="one_language")
def one_language_filter(text):
    """A bilingual service message ("中文 / English") in the reader's language (`civicgrid.ui.language`)."""
    from civicgrid.ui.language import one_language

    return one_language(text)
