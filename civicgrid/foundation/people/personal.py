"""Personal numbers of base data: validate, then derive the stored columns (token, blind index, masked copy).

Services, importers, the demo loader and the benchmark all derive the columns here, so there is one way a
stored ID number or phone comes to be. The checks are those of `core.pii`; an import checks a million numbers,
so the common case (already-clean ASCII) takes a fast path that accepts exactly what `pii` accepts, and
anything it does not accept goes to `pii` for the precise message.
"""

from __future__ import annotations

import re
import time
from datetime import date
from functools import lru_cache

from ..core import keys, pii

ID_CONTEXT = "people.resident.id_number"
PHONE_CONTEXT = "people.resident.phone"
UNIT_PHONE_CONTEXT = "people.unit.contact_phone"
KEY_GROUP_NOTE_CONTEXT = "people.key_group.note"

_ID_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")  # ASCII digits only: \d would take full-width ones
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_CHECK = "10X98765432"


@lru_cache(maxsize=65536)
def _birth(digits: str) -> date | None:
    """The birth date in YYYYMMDD if pii would accept it (1900 ≤ year, not after today); cached per date.

    A date cached as "in the future" may become valid at midnight; such a number then simply takes the slow
    path through `pii`, which accepts it, so the cache can delay nothing but speed.
    """
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    if born.year < 1900 or born > _today():
        return None
    return born


def _today(_cache: list = [date.min, float("-inf")]) -> date:  # noqa: B006 - a deliberate per-process memo
    now = time.monotonic()
    if now - _cache[1] > 60:
        _cache[0], _cache[1] = date.today(), now
    return _cache[0]


def clean_id_number(value: str | None) -> tuple[str, date, str]:
    """Normalised ID number, birth date and sex ("male"/"female"); `ValueError` (Chinese first) if invalid."""
    text = (value or "").strip().upper()
    if _ID_RE.fullmatch(text):
        born = _birth(text[6:14])
        # GB 11643 weighs digit i (from the left) by 2^(18-i) mod 11. Read as a base-13 number the 17 digits are
        # sum(d * 13^(17-i)), and 13 ≡ 2 (mod 11): one C call gives the weighted sum mod 11 (times 2 for 18-i).
        if born is not None and _CHECK[int(text[:17], 13) * 2 % 11] == text[17]:
            return text, born, "male" if text[16] in "13579" else "female"
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


# ---------------------------------------------------------------------------------------------- bulk (workers)
#
# A district-sized import derives the stored columns of millions of numbers: two AES-GCM tokens and two blind
# indexes per resident. `derive_resident_columns` does that for a chunk of already-validated numbers, in this
# process or in a worker of a process pool. A worker needs no Django: it gets the key ring explicitly from
# `worker_init` (through the pool's pipe, never through logs or the environment) and touches no database.

_worker_encryptor = None


def worker_init(ring: dict, cipher: str) -> None:
    """Pool initializer: build this worker's encryptor from the key ring's JSON form (`KeyRing.to_dict`)."""
    global _worker_encryptor
    from ..core.crypto import KeyRing

    _worker_encryptor = keys.FastFieldEncryptor(KeyRing.from_dict(ring), cipher)


def worker_config(enc: keys.FastFieldEncryptor) -> tuple[dict, str]:
    """The `initargs` that give a worker the same encryptor as `enc` (key material: never log them)."""
    return enc.keyring.to_dict(), enc.cipher.name


def derive_resident_columns(
    numbers: list[tuple[str, str]], only_index: bool = False, enc: keys.FastFieldEncryptor | None = None
) -> list[tuple]:
    """For each (normalised ID number or "", normalised phone or ""): (id token, id index, masked id, phone token,
    phone index, masked phone) — the ID columns `("", None, "")` and phone columns `("", "", "")` when empty.
    With `only_index`, just `(None, id index)` (a failed file is only checked for duplicates)."""
    enc = enc or _worker_encryptor or keys.encryptor()
    encrypt, index = enc.encrypt, enc.blind_index
    if only_index:
        return [(None, index(number, ID_CONTEXT) if number else None) for number, _ in numbers]
    out = []
    append = out.append
    id_ctx, phone_ctx = ID_CONTEXT, PHONE_CONTEXT
    for number, phone in numbers:
        if number:
            id_cols = (encrypt(number, id_ctx), index(number, id_ctx), number[:4] + "**********" + number[14:])
        else:
            id_cols = ("", None, "")
        if phone:
            append((*id_cols, encrypt(phone, phone_ctx), index(phone, phone_ctx), mask_phone(phone)))
        else:
            append((*id_cols, "", "", ""))
    return out
