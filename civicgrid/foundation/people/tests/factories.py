"""Helpers for base-data tests: users on the small tree, residents with valid synthetic ID numbers."""

from __future__ import annotations

import random

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core import pii
from civicgrid.testing.builders import user_with

GRID_A = "140213050001001"  # 永泰街道 community 1, grid 1
GRID_B = "140213050001002"  # same community, grid 2
GRID_C = "140213051001001"  # 古城街道: another street
COMMUNITY_A = "140213050001"
STREET_A = "140213050"

_rng = random.Random(20230101)


def id_number(**kwargs) -> str:
    """A fresh valid synthetic ID number."""
    return pii.generate_id_number(_rng, **kwargs)


def bad_check(number: str) -> str:
    """The same number with a wrong check character."""
    return number[:17] + ("0" if number[17] != "0" else "1")


def phone() -> str:
    return f"13{_rng.randrange(10**9):09d}"


def users(tree) -> dict:
    """One account per role the tests need, each over its usual region."""
    return {
        "worker": user_with(Role.GRID_WORKER, region=tree[GRID_A]),
        "worker_b": user_with(Role.GRID_WORKER, region=tree[GRID_B]),
        "community": user_with(Role.COMMUNITY_STAFF, region=tree[COMMUNITY_A]),
        "street": user_with(Role.STREET_STAFF, region=tree[STREET_A]),
        "leader": user_with(Role.LEADER, region=tree["140213"]),
        "sysadmin": user_with(Role.SYSTEM_ADMIN),
    }


def resident_data(grid: str = GRID_A, **extra) -> dict:
    data = {"name": "张伟", "id_number": id_number(), "phone": phone(), "grid_code": grid}
    data.update(extra)
    return data
