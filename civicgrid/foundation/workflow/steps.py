"""`TimelineStep`: the shape every object's timeline shares (a case's 处理过程, a hazard's, an incident's).

One row per transition or note: the action, the status it moved from and to, who acted (the account, and the
name shown, which also names system parts such as `open311:<client>` or `system`), a note, structured data and
the instant. Each app's concrete step model adds the foreign key to its object (and any column of its own) and
writes entries through `record_step`, so every timeline names its actors the same way.

A note the system writes (not a person) is kept in the district's language and, under the data key `note_en`,
in English: `shown_note` gives the reader's; official documents read `note`. Instants in `data` are written in
the district's time zone with their offset (`core.localtimes.district_times`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from civicgrid.foundation.audit.service import actor_label, user_or_none
from civicgrid.foundation.core import rows
from civicgrid.foundation.core.localtimes import district_times

MAX_NOTE = 4000


class TimelineStep(models.Model):
    action = models.CharField(_("操作"), max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    note = models.TextField(_("说明"), blank=True)
    data = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        abstract = True
        ordering = ["at", "id"]

    @classmethod
    def entry(cls, *, action: str, actor, at=None, from_status: str = "", to_status: str = "", note: str = "",
              data: dict | None = None, note_en: str = "", **columns):
        """An unsaved step (`columns`: the object's foreign key and the model's own columns); `actor` is an
        account, a system part's name, or None for the system; `note_en`: the English of a note the system
        wrote."""
        if note_en:
            data = {**(data or {}), "note_en": note_en[:MAX_NOTE]}
        if data:  # every instant in the district's zone with its offset, whichever zone the caller's value had
            data = district_times(data, timezone.get_default_timezone())
        return rows.new(cls, action=action, from_status=from_status, to_status=to_status, actor=user_or_none(actor),
                        actor_name=actor_label(actor), note=(note or "")[:MAX_NOTE], data=data or None,
                        at=at or timezone.now(), **columns)

    @property
    def shown_note(self) -> str:
        """The note in the reader's language: the English a system-written note carries, in the English
        interface; otherwise the note as written."""
        english = (self.data or {}).get("note_en") if isinstance(self.data, dict) else None
        if english and (get_language() or "").startswith("en"):
            return english
        return self.note

    @classmethod
    def record_step(cls, **fields):
        """Write one step (the fields of `entry`)."""
        step = cls.entry(**fields)
        step.save(force_insert=True)
        return step
