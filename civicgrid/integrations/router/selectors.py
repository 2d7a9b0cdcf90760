"""Reads of the router: the triage queue (待分拨) as the page `ui:router_triage` and `GET /router/triage` list it.

The confidence lives inside the case's `suggestion` JSON; it is read in SQL (the key's text, cast to a float)
so the "below the threshold" filter, the count and the page slice are all done by the database, whatever the
number of cases waiting.
"""

from __future__ import annotations

from django.db.models import FloatField, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast


def confidence_expression():
    """The suggestion's confidence as a float; NULL when there is no suggestion or it has no confidence."""
    return Cast(KeyTextTransform("confidence", "suggestion"), FloatField())


def triage_queue(user, *, below: float | None = None, top_level_only: bool = False) -> QuerySet:
    """Reports awaiting intake or dispatch in the user's intake scope, newest first, annotated with
    `confidence`. With `below`, only those whose suggestion is missing, has no confidence, or is under it."""
    from civicgrid.apps.cases.models import Case, Status

    qs = (Case.objects.visible_to(user, "intake")
          .filter(status__in=[Status.REPORTED, Status.ACCEPTED])
          .annotate(confidence=confidence_expression())
          .order_by("-reported_at", "-id"))
    if top_level_only:
        qs = qs.filter(parent__isnull=True)
    if below is not None:
        qs = qs.filter(Q(confidence__isnull=True) | Q(confidence__lt=below))
    return qs
