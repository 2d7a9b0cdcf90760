"""Base-data table types for import and export: buildings, houses, households, residents, units, places.

Headers are the Chinese ones of the ledgers grid workers keep (a few common variants are accepted as aliases).
Importing this package registers the types with `imports.registry`.
"""

from ...imports import registry
from .residents import ResidentTable
from .tables import BuildingTable, HouseholdTable, HouseTable, PlaceTable, UnitTable

for _table in (BuildingTable(), HouseTable(), HouseholdTable(), ResidentTable(), UnitTable(), PlaceTable()):
    registry.register(_table)
