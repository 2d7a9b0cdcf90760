"""Personal numbers of base data: validate, then derive the stored columns (token, blind index, masked copy).

Services, importers, the demo loader and the benchmark all derive the columns here, so there is one way a
stored ID number or phone comes to be. The checks are those of `core.pii`; an import checks a million numbers,
so the common case (already-clean ASCII) takes a fast path that accepts exactly what `pii` accepts, and
anything it does not accept goes to `pii` for the precise message.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from ..core import keys, pii

ID_CONTEXT = "people.resident.id_number"
PHONE_CONTEXT = "people.resident.phone"
UNIT_PHONE_CONTEXT = "people.unit.contact_phone"
KEY_GROUP_NOTE_CONTEXT = "people.key_group.note"

_ID_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")  # ASCII digits only: \d would take full-width ones
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


@lru_cache(maxsize=65536)
def _birth(digits: str) -> date | None:
    """The birth date in YYYYMMDD if pii would accept it (1900 ≤ year, not in the future); cached per date."""
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    if born.year < 1900 or born > date.today():
        return None
    return born


def clean_id_number(value: str | None) -> tuple[str, date, str]:
    """Normalised ID number, birth date and sex ("male"/"female"); `ValueError` (Chinese first) if invalid."""
    text = (value or "").strip().upper()
    if _ID_RE.fullmatch(text):
        born = _birth(text[6:14])
        if born is not None:
            total = 0
            for char, weight in zip(text[:17], _WEIGHTS, strict=True):
                total += (ord(char) - 48) * weight
            if _CHECK[total % 11] == text[17]:
                return text, born, "male" if (ord(text[16]) - 48) % 2 else "female"
    normal = pii.validate_id_number(value)  # raises with the precise reason
    return normal, pii.id_number_birth_date(normal), pii.id_number_sex(normal)


def clean_phone(value: str | None) -> str:
    """Normalised mobile ("13812345678") or landline ("0352-1234567"); `ValueError` if invalid."""
    text = (value or "").strip()
    if _MOBILE_RE.fullmatch(text):
        return text
    return pii.validate_mobile(text)


def mask_phone(phone: str) -> str:
    """Mask a phone already normalised by `clean_phone`."""
    if len(phone) == 11 and "-" not in phone:
        return phone[:3] + "****" + phone[7:]
    return pii.mask_phone(phone)


def id_columns(id_number: str) -> dict:
    """Stored columns for a normalised ID number (or for none: empty token, NULL index)."""
    if not id_number:
        return {"id_number_enc": "", "id_number_index": None, "id_number_masked": ""}
    enc = keys.encryptor()
    return {
        "id_number_enc": enc.encrypt(id_number, ID_CONTEXT),
        "id_number_index": enc.blind_index(id_number, ID_CONTEXT),
        "id_number_masked": id_number[:4] + "**********" + id_number[14:],
    }


def phone_columns(phone: str) -> dict:
    """Stored columns for a resident's normalised phone."""
    if not phone:
        return {"phone_enc": "", "phone_index": "", "phone_masked": ""}
    enc = keys.encryptor()
    return {
        "phone_enc": enc.encrypt(phone, PHONE_CONTEXT),
        "phone_index": enc.blind_index(phone, PHONE_CONTEXT),
        "phone_masked": mask_phone(phone),
    }


def id_index(id_number: str) -> str:
    """Blind index of a normalised ID number (for lookups and duplicate checks)."""
    return keys.blind_index(id_number, ID_CONTEXT)


def phone_index(phone: str) -> str:
    """Blind index of a normalised phone."""
    return keys.blind_index(phone, PHONE_CONTEXT)


def register_columns() -> None:
    """Tell `rotate_keys` which people columns hold tokens."""
    keys.register_encrypted_column("people.Resident", "id_number_enc", ID_CONTEXT)
    keys.register_encrypted_column("people.Resident", "phone_enc", PHONE_CONTEXT)
    keys.register_encrypted_column("people.Unit", "contact_phone_enc", UNIT_PHONE_CONTEXT)
    keys.register_encrypted_column("people.KeyGroupLabel", "note_enc", KEY_GROUP_NOTE_CONTEXT)
