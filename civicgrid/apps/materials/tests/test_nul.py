"""A NUL character in the text the materials services take is refused with a 400 naming the field, nothing
written (`core.text`: refused, no longer dropped, as every service taking request text does)."""

from __future__ import annotations

import pytest

from civicgrid.apps.materials import services
from civicgrid.apps.materials.models import MaterialItem
from civicgrid.foundation.core.errors import ValidationFailed

from .conftest import state

pytestmark = pytest.mark.django_db


def test_counts_and_catalogue_refuse_a_nul(depot):
    before, items = state(), list(MaterialItem.objects.values_list("code", "name"))
    with pytest.raises(ValidationFailed) as refused:
        services.start_count(actor=depot.centre, warehouse=depot.district, note="月度\x00盘点")
    assert refused.value.field == "note" and "NUL" in refused.value.message
    with pytest.raises(ValidationFailed) as refused:
        services.save_item(actor=depot.centre, code="rope", name="救生\x00绳", unit="根", group="rescue")
    assert refused.value.field == "name"
    assert state() == before and list(MaterialItem.objects.values_list("code", "name")) == items
