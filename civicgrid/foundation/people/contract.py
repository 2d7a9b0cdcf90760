"""Scope contract hooks: residents carry real encrypted numbers, so `reveal` works for the roles allowed it."""

import random

from civicgrid.foundation.core import pii
from civicgrid.testing.contract import Placement, register_factory

from . import personal
from .models import Resident

_rng = random.Random(20231231)


def _resident(placement: Placement) -> Resident:
    grid = placement.grid
    number = pii.generate_id_number(_rng)
    _, born, sex = personal.clean_id_number(number)
    return Resident.objects.create(
        name=f"契约{placement.mark()}", grid=grid, region_code=grid.code, birth_date=born, sex=sex,
        **personal.id_columns(number), **personal.phone_columns(f"139{_rng.randrange(10**8):08d}"),
    )


register_factory("people.Resident", _resident)
