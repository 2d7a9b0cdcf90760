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


@register.filter(name="org_cell")
def org_cell_filter(org):
    """An organisation in a dense table's column: its brief name (`Organisation.brief_name`), the full name on
    hover when the two differ; "—" for none. Pages with room name it in full (`{{ org.name }}`)."""
    from django.utils.html import format_html

    if org is None or org == "":
        return "—"
    brief = org.brief_name
    if brief == org.name:
        return brief  # autoescaped by the template
    return format_html('<span title="{}">{}</span>', org.name, brief)


@register.filter(name="one_language")
def one_language_filter(text):
    """A bilingual service message ("中文 / English") in the reader's language (`civicgrid.ui.language`)."""
    from civicgrid.ui.language import one_language

    return one_language(text)


@register.filter(name="short_time")
def short_time_filter(value):
    """A date and time where a short form is read at a glance (the case's finished time limits, the board's
    overdue list): "12-01 13:39" in Chinese for a date in this year, with the year for another year, and always
    with it in English ("2026-12-01 13:39"), where "12-01" might be read day first."""
    if not value:
        return ""
    from django.utils import dateformat, timezone
    from django.utils.translation import get_language

    local = timezone.localtime(value) if timezone.is_aware(value) else value
    english = (get_language() or "").startswith("en")
    same_year = local.year == timezone.localdate().year
    return dateformat.format(local, "m-d H:i" if same_year and not english else "Y-m-d H:i")
