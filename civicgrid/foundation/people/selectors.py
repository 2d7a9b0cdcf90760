"""Reads of base data, always through the scoped path, with a fixed number of queries per list.

Each list joins what its rows show (`select_related`) and fetches key-group labels in one extra query, and only
for actors whose role works with key groups; so a page of 5 rows and a page of 500 cost the same.
"""

from __future__ import annotations

import re

from django.db import models

from ..access.scope import get_visible_or_404, scope_for, subtree_q
from ..audit import service as audit
from ..audit import verbs
from ..core.ids import checked_id
from . import personal
from .models import Building, House, Household, KeyGroupLabel, Place, Resident, Unit

_ID_LIKE = re.compile(r"^\s*[0-9]{17}[0-9Xx]\s*$")
_PHONE_LIKE = re.compile(r"^\s*(?:1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})\s*$")
_MAX_Q = 64


def _region_filter(qs, region: str | None):
    region = (region or "").strip()
    if region:
        if not region.isdigit() or len(region) > 15:
            return qs.none()
        qs = qs.filter(subtree_q("region_code", region))
    return qs


def _key_group_prefetch(actor) -> list:
    """Prefetch the labels the actor may see (none when their roles do not work with key groups)."""
    if scope_for(actor, "people.key_group").empty:
        return []
    labels = KeyGroupLabel.objects.visible_to(actor).order_by("group")
    return [models.Prefetch("key_groups", queryset=labels, to_attr="visible_key_groups")]


def can_see_key_groups(actor) -> bool:
    """Whether the actor's roles work with key groups anywhere."""
    return not scope_for(actor, "people.key_group").empty


def residents(actor, *, region: str | None = None, q: str | None = None) -> models.QuerySet:
    """Residents in the actor's scope; `q` matches a name fragment, or exactly an ID number or phone."""
    qs = (
        Resident.objects.visible_to(actor)
        .select_related("household", "grid")
        .defer("grid__geometry")
        .prefetch_related(*_key_group_prefetch(actor))
        .order_by("region_code", "id")
    )
    qs = _region_filter(qs, region)
    q = (q or "").strip()[:_MAX_Q]
    if not q:
        return qs
    if _ID_LIKE.match(q):
        return _sensitive_lookup(actor, qs, "id_number", q)
    if _PHONE_LIKE.match(q):
        return _sensitive_lookup(actor, qs, "phone", q)
    return qs.filter(name__contains=q)


def _sensitive_lookup(actor, qs, field: str, value: str):
    """Exact match through the blind index; audited, since it tells whether a person lives here."""
    try:
        if field == "id_number":
            qs = qs.filter(id_number_index=personal.id_index(personal.clean_id_number(value)[0]))
        else:
            qs = qs.filter(phone_index=personal.phone_index(personal.clean_phone(value)))
    except ValueError:
        return qs.none()
    audit.record(
        actor=actor,
        action=verbs.Data.CONFIDENTIAL_READ,
        target_type="people.resident",
        target_repr=f"按{'身份证号' if field == 'id_number' else '电话'}查找 / lookup by {field}",
        data={"lookup": field, "matches": qs.count()},
    )
    return qs


def find_by_id_number(actor, id_number: str) -> Resident | None:
    """The resident (in the actor's scope) with this ID number, or None; the lookup is audited."""
    if not _ID_LIKE.match(id_number or ""):
        return None
    return _sensitive_lookup(actor, Resident.objects.visible_to(actor), "id_number", id_number).first()


def resident(actor, pk) -> Resident:
    """One resident in scope (404 otherwise)."""
    qs = Resident.objects.select_related("household", "grid").defer("grid__geometry")
    qs = qs.prefetch_related(*_key_group_prefetch(actor))
    return get_visible_or_404(qs, actor, pk=pk)


def buildings(actor, *, region: str | None = None, q: str | None = None) -> models.QuerySet:
    """Buildings in scope, by region subtree and address/name fragment."""
    qs = Building.objects.visible_to(actor).select_related("grid").defer("grid__geometry").order_by("code")
    qs = _region_filter(qs, region)
    q = (q or "").strip()[:_MAX_Q]
    if q:
        qs = qs.filter(models.Q(address__contains=q) | models.Q(name__contains=q) | models.Q(code=q))
    return qs


def building(actor, pk) -> Building:
    """One building in scope."""
    return get_visible_or_404(Building.objects.select_related("grid").defer("grid__geometry"), actor, pk=pk)


def houses(actor, *, region: str | None = None, q: str | None = None, building_id=None) -> models.QuerySet:
    """Houses in scope, optionally of one building."""
    qs = House.objects.visible_to(actor).select_related("building").order_by("code")
    qs = _region_filter(qs, region)
    if building_id:
        qs = qs.filter(building_id=checked_id(building_id, "building"))
    q = (q or "").strip()[:_MAX_Q]
    if q:
        qs = qs.filter(models.Q(building__address__contains=q) | models.Q(code=q) | models.Q(room_no=q))
    return qs


def house(actor, pk) -> House:
    """One house in scope."""
    return get_visible_or_404(House.objects.select_related("building"), actor, pk=pk)


def households(actor, *, region: str | None = None, q: str | None = None) -> models.QuerySet:
    """Households in scope, by region subtree and address / head-of-household fragment."""
    qs = Household.objects.visible_to(actor).select_related("house").order_by("code")
    qs = _region_filter(qs, region)
    q = (q or "").strip()[:_MAX_Q]
    if q:
        qs = qs.filter(models.Q(address__contains=q) | models.Q(head_name__contains=q) | models.Q(code=q))
    return qs


def household(actor, pk) -> Household:
    """One household in scope."""
    return get_visible_or_404(Household.objects.select_related("house"), actor, pk=pk)


def household_members(actor, household_obj: Household) -> models.QuerySet:
    """The members of a household that the actor may see."""
    return residents(actor).filter(household=household_obj)


def units(actor, *, region: str | None = None, q: str | None = None, kind: str | None = None) -> models.QuerySet:
    """Units in scope, by region subtree, kind and name/address fragment."""
    qs = Unit.objects.visible_to(actor).select_related("building").order_by("region_code", "id")
    qs = _region_filter(qs, region)
    if kind:
        qs = qs.filter(kind=kind)
    q = (q or "").strip()[:_MAX_Q]
    if q:
        qs = qs.filter(models.Q(name__contains=q) | models.Q(address__contains=q) | models.Q(credit_code=q))
    return qs


def unit(actor, pk) -> Unit:
    """One unit in scope."""
    return get_visible_or_404(Unit.objects.select_related("building"), actor, pk=pk)


def places(actor, *, region: str | None = None, q: str | None = None, kind: str | None = None) -> models.QuerySet:
    """Places and facilities in scope, by region subtree, kind and name/address fragment."""
    qs = Place.objects.visible_to(actor).order_by("region_code", "id")
    qs = _region_filter(qs, region)
    if kind:
        qs = qs.filter(kind=kind)
    q = (q or "").strip()[:_MAX_Q]
    if q:
        qs = qs.filter(models.Q(name__contains=q) | models.Q(address__contains=q))
    return qs


def place(actor, pk) -> Place:
    """One place in scope."""
    return get_visible_or_404(Place.objects.all(), actor, pk=pk)
