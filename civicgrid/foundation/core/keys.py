"""The process-wide field encryptor, configured from settings, and the registry of encrypted columns.

`encryptor()` loads `settings.CIVICGRID_KEY_FILE` with `settings.CIVICGRID_CIPHER`. The file is generated (mode
0600) on first use only while the database holds no encrypted value (a fresh installation, so the embedded demo
needs no setup). Once there is encrypted data, a missing file is an error (`KeyFileMissing`, naming the path):
a new key could not read the old data, and what it wrote would be unreadable once the right file is put back.
A file that disappears under a running process is not replaced either: the process keeps the ring it loaded.
Generated key ids carry a random suffix (`k1-3f9a0c2e`), so a wrong key file says "unknown key id" rather than
"the token was altered".

Other processes may rotate the key file while this one runs (`civicgrid rotate_keys`), so the ring is reloaded
when the file changes on disk and a token naming a key this process has not seen triggers one reload before
giving up; a token that still cannot be read raises `KeyMismatch`, a message for people (the reveal views and
the error pages show it instead of a 500).

Bulk paths (imports, the demo, the benchmark) encrypt millions of values; `FastFieldEncryptor` keeps one
AES-GCM context per key and draws nonces in blocks instead of building both for every value, and precomputes
the keyed blind-index hash state. Its tokens and indexes are byte-for-byte the format of
`crypto.FieldEncryptor` (checked by the tests), so either can read what the other wrote.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from . import crypto
from .crypto import DecryptionError, FieldEncryptor, KeyFileError, KeyRing
from .errors import CivicgridError

log = logging.getLogger(__name__)

# How often (seconds) a running process looks at the key file's modification time.
_RELOAD_CHECK_SECONDS = 2.0
_NONCE_BLOCK = 12 * 4096
_WHITESPACE = re.compile(r"\s")
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_KEY_NUMBER = re.compile(r"k(\d+)(?:-|$)")


class KeyFileMissing(KeyFileError):
    """The key file is missing while the database holds values encrypted with it: nothing is generated.

    Not a `CivicgridError`: its message names a server path, for the operator (commands, the log); pages and
    the API answer a message without it (`ui.errors.KeysUnavailableMiddleware`)."""


class KeyMismatch(CivicgridError, DecryptionError):
    """A stored value cannot be decrypted with the key file in use (another ring's file, or an altered token)."""

    status = 503
    code = "keys_unavailable"


def new_key_id(ring: KeyRing | None = None) -> str:
    """A key id no other ring is likely to use: the next number and a random suffix (`k2-5be01f9c`)."""
    numbers = [int(m.group(1)) for k in (ring.keys if ring else ()) if (m := _KEY_NUMBER.match(k))]
    return f"k{max(numbers, default=0) + 1}-{secrets.token_hex(4)}"


class FastFieldEncryptor(FieldEncryptor):
    """A `FieldEncryptor` whose hot paths (AES-GCM encryption, blind indexes) avoid per-value set-up."""

    def __init__(self, keyring: KeyRing, algorithm: str = "aes-gcm") -> None:
        super().__init__(keyring, algorithm)
        self._local = threading.local()
        self._aead = None
        self._prefix = f"{crypto.TOKEN_VERSION}:{self.cipher.name}:{keyring.current}:"
        self._ad: dict[str, bytes] = {}
        self._index_state: dict[str, tuple] = {}
        if self.cipher.name == "aes-gcm":
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(keyring.current_key)

    def _nonce(self) -> bytes:
        # os.urandom per value is a system call; one call per 4096 values keeps the nonces just as random. Each
        # thread draws from its own block, so no lock sits in the hot path.
        local = self._local
        block = getattr(local, "block", b"")
        pos = getattr(local, "pos", 0)
        if pos >= len(block):
            block, pos = os.urandom(_NONCE_BLOCK), 0
            local.block = block
        local.pos = pos + 12
        return block[pos : pos + 12]

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """Same token as `FieldEncryptor.encrypt`, faster for AES-GCM."""
        if self._aead is None or not isinstance(plaintext, str):
            return super().encrypt(plaintext, context)
        ad = self._ad.get(context)
        if ad is None:
            ad = self._ad[context] = crypto._associated_data(self.cipher.name, self.keyring.current, context)
        nonce = self._nonce()
        payload = nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), ad)
        # base64url without padding, as crypto._b64url writes it, in two C calls instead of four.
        return self._prefix + binascii.b2a_base64(payload, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")

    def blind_index(self, value: str, context: str) -> str:
        """Same index as `FieldEncryptor.blind_index`, with the HMAC key schedule computed once per context."""
        state = self._index_state.get(context)
        if state is None:
            if "\x00" in context:
                raise ValueError("context must not contain NUL")
            key = self.keyring.blind_index_key.ljust(64, b"\x00")  # HMAC-SHA256, 64-byte block (RFC 2104)
            inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
            inner.update(context.encode("utf-8") + b"\x00")
            outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
            state = self._index_state[context] = (inner, outer)
        if value.isascii() and (value.isalnum() or not _WHITESPACE.search(value)):
            normal = value.lower()  # NFKC and casefold are the identity / lower() on ASCII without spaces
        else:
            normal = crypto.normalise_for_index(value)
        inner = state[0].copy()
        inner.update(normal.encode("utf-8"))
        outer = state[1].copy()
        outer.update(inner.digest())
        return outer.hexdigest()[: crypto.BLIND_INDEX_HEX_CHARS]


class _Holder:
    """The loaded encryptor and what it was loaded from, so changes on disk are noticed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.encryptor: FastFieldEncryptor | None = None
        self.source: tuple | None = None
        self.path: Path | None = None  # the file the encryptor was loaded from
        self.checked_at = 0.0


_holder = _Holder()


def key_file() -> Path:
    """Where the key ring lives (outside the database and the web root)."""
    return Path(settings.CIVICGRID_KEY_FILE)


def _stat(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino, settings.CIVICGRID_CIPHER)


def database_holds_encrypted_values() -> bool:
    """Whether any registered encrypted column holds a token (tables not yet migrated count as empty)."""
    from django.apps import apps
    from django.db import connection

    apps.get_models()  # the apps register their columns when they are ready
    tables = set(connection.introspection.table_names())
    for column in ENCRYPTED_COLUMNS.values():
        model = apps.get_model(column.model)
        if model._meta.db_table in tables and model._default_manager.filter(**{f"{column.field}__gt": ""}).exists():
            return True
    return False


def missing_key_file_message(path: Path) -> str:
    return (
        f"加密密钥文件 {path} 不存在，而数据库中已有加密数据：请从备份恢复该文件（复制回原处，或 civicgrid restore "
        f"备份文件 --keys 密钥文件），不会生成新密钥。 / The encryption key file {path} is missing but the database "
        "holds encrypted values: restore that file from its backup (copy it back, or `civicgrid restore BACKUP "
        "--keys KEYFILE`); no new key is generated, as it could not read the existing data."
    )


def _create_first_key_file(path: Path) -> None:
    """Generate the key file of a fresh installation; `KeyFileMissing` if the database already holds tokens."""
    if database_holds_encrypted_values():
        log.error("encryption key file %s is missing and the database holds encrypted values", path)
        raise KeyFileMissing(missing_key_file_message(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        KeyRing.generate(path, new_key_id())
        log.warning("generated a new encryption key file at %s (mode 0600); back it up", path)
    except KeyFileError:
        pass  # another process created it at the same moment: use theirs


def encryptor(*, force_check: bool = False) -> FastFieldEncryptor:
    """The process-wide encryptor, reloaded when the key file or the configured cipher changes.

    `KeyFileMissing` when there is no key file and the database holds encrypted values (see the module's text).
    """
    h = _holder
    now = time.monotonic()
    if h.encryptor is not None and not force_check and now - h.checked_at < _RELOAD_CHECK_SECONDS:
        return h.encryptor
    with h.lock:
        path = key_file()
        try:
            source = _stat(path)
        except FileNotFoundError:
            source = None
        if source is None and h.encryptor is not None and h.path == path:
            # Gone under a running process (deleted, or being restored): keep using the keys already loaded, so
            # what is written meanwhile stays readable with the file once it is back.
            if h.source is not None:
                log.error("encryption key file %s has disappeared; this process keeps the keys it loaded. "
                          "Restore the file from its backup.", path)
                h.source = None
        elif h.encryptor is None or source != h.source:
            if source is None:
                _create_first_key_file(path)
            h.encryptor = FastFieldEncryptor(KeyRing.load(path), settings.CIVICGRID_CIPHER)
            h.source, h.path = _stat(path), path
        h.checked_at = now
        return h.encryptor


def refuse_to_start_without_keys() -> None:
    """At a web process's start: `SystemExit` naming the file if the key file is missing over encrypted data.
    Any other failure (a database not reachable yet) is logged; the pages then say what is wrong."""
    from django.db import connections

    try:
        encryptor()
    except KeyFileMissing as exc:
        raise SystemExit(f"civicgrid: {exc}") from None
    except Exception:  # noqa: BLE001 - the check is repeated by every page that needs a key
        log.warning("could not check the encryption key file at start", exc_info=True)
    finally:
        connections.close_all()


def reset() -> None:
    """Forget the loaded ring (tests that switch key files or ciphers; after a rotation in this process)."""
    with _holder.lock:
        _holder.encryptor = None
        _holder.source = None
        _holder.path = None
        _holder.checked_at = 0.0


def encrypt(value: str, context: str) -> str:
    """Encrypt a field value under `context` (e.g. "people.resident.id_number"); "" stays ""."""
    return encryptor().encrypt(value, context) if value else ""


def decrypt(token: str, context: str) -> str:
    """Decrypt a stored token; a key this process has not seen yet causes one reload of the key file."""
    if not token:
        return ""
    try:
        try:
            return encryptor().decrypt(token, context)
        except DecryptionError:
            _, key_id, _ = crypto.parse_token(token)
            if key_id in encryptor().keyring.keys:
                raise
            return encryptor(force_check=True).decrypt(token, context)
    except KeyMismatch:
        raise
    except DecryptionError as exc:
        log.error("cannot decrypt a %s value with the key file %s: %s", context, key_file(), exc)
        raise KeyMismatch(
            f"无法解密该数据：{exc}。当前密钥文件可能不是写入数据时所用的那份，请系统管理员从备份恢复正确的密钥文件。 / "
            f"This value cannot be decrypted ({exc}): the key file in use is probably not the one it was written "
            "with; the system administrator should restore the right key file from its backup."
        ) from exc


def blind_index(value: str, context: str) -> str:
    """The keyed exact-match index of a value ("" for an empty value)."""
    return encryptor().blind_index(value, context) if value else ""


# ---------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class EncryptedColumn:
    """A model field holding tokens, with the context they were encrypted under."""

    model: str  # "app_label.ModelName"
    field: str
    context: str


ENCRYPTED_COLUMNS: dict[tuple[str, str], EncryptedColumn] = {}


def register_encrypted_column(model: str, field: str, context: str) -> None:
    """Declare a column `rotate_keys` must re-encrypt (apps call this when their models load)."""
    ENCRYPTED_COLUMNS[(model, field)] = EncryptedColumn(model, field, context)


def reencrypt_all(*, batch_size: int = 2000, progress=None) -> dict[str, int]:
    """Move every registered column's tokens to the current key and cipher, in batches; returns counts.

    Each batch commits on its own, so a rotation of millions of rows never holds one long transaction, and an
    interrupted run can simply be started again (tokens already on the current key are skipped).
    """
    from django.apps import apps
    from django.db import transaction

    enc = encryptor(force_check=True)
    counts: dict[str, int] = {}
    for column in ENCRYPTED_COLUMNS.values():
        model = apps.get_model(column.model)
        label = f"{column.model}.{column.field}"
        changed = 0
        last_pk = 0
        while True:
            # Lock the batch while it is rewritten, so an edit made meanwhile is not overwritten by a stale token.
            with transaction.atomic():
                rows = list(
                    model._default_manager.select_for_update()
                    .filter(pk__gt=last_pk)
                    .exclude(**{column.field: ""})
                    .order_by("pk")
                    .values_list("pk", column.field)[:batch_size]
                )
                if not rows:
                    break
                last_pk = rows[-1][0]
                objs = [
                    model(pk=pk, **{column.field: enc.reencrypt(token, column.context)})
                    for pk, token in rows
                    if enc.needs_reencrypt(token)
                ]
                if objs:
                    model._default_manager.bulk_update(objs, [column.field], batch_size=500)
                changed += len(objs)
            if progress:
                progress(label, changed, last_pk)
        counts[label] = changed
    return counts
