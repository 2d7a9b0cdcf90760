"""What a snapshot field holds about a person, by declaration or by name: the kinds `audit_personal_fields`
names (models import them from here, which imports nothing), and `personal_kind`, the default for a text
column a model does not declare. `service.snapshot` masks each kind; see the app's README, "Personal data"."""

from __future__ import annotations

NAME, PHONE, EMAIL, ID_NUMBER, ADDRESS, TEXT = "name", "phone", "email", "id_number", "address", "text"
KINDS = frozenset({NAME, PHONE, EMAIL, ID_NUMBER, ADDRESS, TEXT})

# The words of a field's name (split at "_") that say what it holds; the first kind that matches wins.
_NAME_WORDS = (
    (ID_NUMBER, ({"id", "number"}, {"id", "card"}, {"idcard"})),
    (PHONE, ({"phone"}, {"mobile"}, {"tel"}, {"telephone"})),
    (EMAIL, ({"email"}, {"mail"})),
    (ADDRESS, ({"address"},)),
    (TEXT, ({"description"}, {"note"}, {"notes"}, {"comment"}, {"remark"}, {"remarks"})),
    (NAME, ({"name"}, {"person"}, {"contact"}, {"caller"}, {"reporter"})),
)
# Columns that already hold a safe form of a value (its mask, its keyed blind index), or the value encrypted.
_DERIVED_SUFFIXES = ("_masked", "_index", "_enc")


def personal_kind(field_name: str) -> str | None:
    """What a text column named `field_name` holds by its name (NAME, PHONE, …, TEXT), or None."""
    if field_name.endswith(_DERIVED_SUFFIXES):
        return None
    words = set(field_name.lower().split("_"))
    for kind, alternatives in _NAME_WORDS:
        if any(option <= words for option in alternatives):
            return kind
    return None
