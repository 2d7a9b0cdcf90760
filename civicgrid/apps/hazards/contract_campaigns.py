"""Scope contract hooks for the campaign pages: a campaign over each placement's grid and one checklist there.

Imported by `hazards/contract.py` (the contract autodiscovers `<app>.contract` modules only)."""

from datetime import timedelta

from django.utils import timezone

from civicgrid.testing.contract import Placement, register_factory

from .models import Campaign, ChecklistItem, Inspection, Kind


def _campaign(placement: Placement) -> Campaign:
    grid = placement.grid
    today = timezone.localdate()
    campaign = Campaign.objects.create(
        name=f"契约排查 {placement.mark()}", kind=Kind.FLOOD, region=grid, region_code=grid.code, starts_on=today,
        deadline=today + timedelta(days=10), description=placement.mark(),
    )
    ChecklistItem.objects.create(campaign=campaign, category="low_lying", text=f"排水口是否堵塞 {placement.mark()}")
    return campaign


def _inspection(placement: Placement) -> Inspection:
    grid = placement.grid
    campaign = placement.objects.get("hazards.campaign") or _campaign(placement)
    return Inspection.objects.create(campaign=campaign, region=grid, region_code=grid.code, street_code=grid.code[:9],
                                     category="", place=f"契约检查对象 {placement.mark()}")


register_factory("hazards.Campaign", _campaign)
register_factory("hazards.Inspection", _inspection)
