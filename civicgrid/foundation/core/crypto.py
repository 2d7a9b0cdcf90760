"""Field-level encryption of personal data, with keys kept outside the database.

A :class:`KeyRing` holds named 32-byte data keys (one of them current) and a separate blind-index key; it is
loaded from a JSON key file that lives outside the database and the web root::

    {"current": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"}, "blind_index_key": "<base64>"}

A :class:`FieldEncryptor` turns text into a compact token ``v1:<algo>:<key_id>:<base64url(payload)>``. The token
names its algorithm and key, so data written before a key rotation (or before switching algorithm) still
decrypts; :meth:`FieldEncryptor.reencrypt` moves a token to the current key. A *context* string (for example
``"people.resident.id_number"``) is bound into the authentication tag, so a token copied into another column
does not decrypt.

Two ciphers sit behind the small :class:`Cipher` interface:

* ``"aes-gcm"`` (default): AES-256-GCM from ``cryptography``; payload = 12-byte random nonce + ciphertext + tag.
* ``"sm4"``: for deployments that require Chinese commercial cryptography (密评). ``gmssl`` offers SM4 only
  in ECB/CBC, which are not authenticated, so the construction is encrypt-then-MAC: SM4-CBC (PKCS#7, 16-byte
  random IV) followed by HMAC-SM3 over the associated data, IV and ciphertext; payload = IV + ciphertext +
  32-byte tag. The tag is checked (in constant time) before anything is decrypted. The SM4 key and the MAC key
  are derived from the 32-byte data key with HMAC-SM3 under distinct labels, so the two never share a key.

Blind indexes (:meth:`FieldEncryptor.blind_index`) are HMAC-SHA256 of a normalised value under their own key,
for exact-match lookups without decrypting. That key is not rotated by :meth:`KeyRing.rotate`: changing it would
require recomputing every stored index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import tempfile
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_VERSION = "v1"
KEY_BYTES = 32
BLIND_INDEX_HEX_CHARS = 32
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class CryptoError(Exception):
    """Base class for errors of this module."""


class DecryptionError(CryptoError):
    """A token cannot be decrypted: malformed, altered, wrong context, or encrypted with an unknown key."""


class KeyFileError(CryptoError):
    """The key file is missing, malformed, or would be overwritten."""


class KeyFilePermissionWarning(UserWarning):
    """The key file can be read by users other than its owner."""


# ---------------------------------------------------------------------------------------------- key ring


def _b64decode_key(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise KeyFileError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"{what} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise KeyFileError(f"{what} must decode to {KEY_BYTES} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class KeyRing:
    """Named data keys (one current) plus the blind-index key. Immutable; rotation returns a new ring."""

    keys: Mapping[str, bytes]
    current: str
    blind_index_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyFileError("key ring has no keys")
        for key_id, key in self.keys.items():
            if not _KEY_ID_RE.match(key_id):
                raise KeyFileError(f"invalid key id {key_id!r} (letters, digits, '_', '.', '-'; at most 32)")
            if len(key) != KEY_BYTES:
                raise KeyFileError(f"key {key_id!r} must be {KEY_BYTES} bytes")
        if self.current not in self.keys:
            raise KeyFileError(f"current key {self.current!r} is not among the keys")
        if len(self.blind_index_key) != KEY_BYTES:
            raise KeyFileError(f"blind_index_key must be {KEY_BYTES} bytes")
        object.__setattr__(self, "keys", dict(self.keys))

    def __repr__(self) -> str:  # never show key material
        return f"KeyRing(current={self.current!r}, key_ids={sorted(self.keys)!r})"

    @property
    def current_key(self) -> bytes:
        """The key new tokens are encrypted with."""
        return self.keys[self.current]

    def key(self, key_id: str) -> bytes:
        """Return the key named ``key_id``; raise :class:`DecryptionError` if the ring does not hold it."""
        try:
            return self.keys[key_id]
        except KeyError:
            raise DecryptionError(
                f"unknown encryption key id {key_id!r}; is the right key file loaded?"
            ) from None

    @classmethod
    def random(cls, key_id: str = "k1") -> KeyRing:
        """A fresh in-memory ring (tests, development); nothing is written anywhere."""
        return cls({key_id: secrets.token_bytes(KEY_BYTES)}, key_id, secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_dict(cls, data: Mapping) -> KeyRing:
        """Build a ring from the parsed JSON of a key file."""
        if not isinstance(data, Mapping):
            raise KeyFileError("key file must contain a JSON object")
        keys = data.get("keys")
        if not isinstance(keys, Mapping) or not keys:
            raise KeyFileError("key file needs a non-empty 'keys' object")
        current = data.get("current")
        if not isinstance(current, str):
            raise KeyFileError("key file needs 'current' naming one of the keys")
        return cls(
            {str(k): _b64decode_key(v, f"key {k!r}") for k, v in keys.items()},
            current,
            _b64decode_key(data.get("blind_index_key"), "blind_index_key"),
        )

    def to_dict(self) -> dict:
        """The JSON-ready form written to a key file."""
        return {
            "current": self.current,
            "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self.keys.items()},
            "blind_index_key": base64.b64encode(self.blind_index_key).decode("ascii"),
        }

    @classmethod
    def load(cls, path: str | os.PathLike) -> KeyRing:
        """Read a key file; warn (:class:`KeyFilePermissionWarning`) if others can read it."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyFileError(f"key file {path} does not exist; create it with KeyRing.generate()") from None
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.warn(
                f"key file {path} is accessible to group/other (mode {stat.S_IMODE(mode):o}); chmod 600 it",
                KeyFilePermissionWarning,
                stacklevel=2,
            )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyFileError(f"key file {path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def generate(cls, path: str | os.PathLike, key_id: str = "k1") -> KeyRing:
        """Create a new key file (mode 0600) with one key; refuse to overwrite an existing file."""
        ring = cls.random(key_id)
        _write_new_file(Path(path), ring)
        return ring

    def with_new_key(self, key_id: str | None = None) -> KeyRing:
        """A ring with one more key, made current; old keys are kept so existing tokens still decrypt."""
        if key_id is None:
            numbers = [int(m.group(1)) for k in self.keys if (m := re.fullmatch(r"k(\d+)", k))]
            key_id = f"k{max(numbers, default=0) + 1}"
        if key_id in self.keys:
            raise KeyFileError(f"key id {key_id!r} already exists")
        keys = {**self.keys, key_id: secrets.token_bytes(KEY_BYTES)}
        return KeyRing(keys, key_id, self.blind_index_key)

    @classmethod
    def rotate(cls, path: str | os.PathLike, key_id: str | None = None) -> KeyRing:
        """Add a new current key to the key file (atomic replace, mode 0600) and return the new ring.

        Run one rotation at a time: two concurrent rotations of the same file would keep only one new key.
        """
        path = Path(path)
        ring = cls.load(path).with_new_key(key_id)
        fd, tmp = tempfile.mkstemp(prefix=".keyring-", dir=path.parent)  # mkstemp creates with mode 0600
        _write_ring(fd, Path(tmp), ring)
        try:
            os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of it
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ring


def _write_new_file(path: Path, ring: KeyRing) -> None:
    try:
        # O_EXCL: fail instead of overwriting, even if another process creates the file at the same moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it") from None
    _write_ring(fd, path, ring)


def _write_ring(fd: int, path: Path, ring: KeyRing) -> None:
    """Write the ring to an open descriptor (made 0600 whatever the umask); remove the file on failure."""
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(ring.to_dict(), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------- ciphers


class Cipher(Protocol):
    """Authenticated encryption of bytes with a 32-byte key and associated data."""

    name: str

    def seal(self, key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt and authenticate; return the payload (nonce/IV, ciphertext and tag)."""
        ...

    def open(self, key: bytes, payload: bytes, associated_data: bytes) -> bytes:
        """Check and decrypt a payload from :meth:`seal`; raise :class:`DecryptionError` if it fails."""
        ...


_TAMPERED = "integrity check failed: the token was altered, or belongs to another field (context)"


class AesGcmCipher:
    """AES-256-GCM with a random 96-bit nonce per message."""

    name = "aes-gcm"
    nonce_bytes = 12

    def seal(self, key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt; payload = nonce + ciphertext + 16-byte tag."""
        nonce = os.urandom(self.nonce_bytes)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)

    def open(self, key: bytes, payload: bytes, associated_data: bytes) -> bytes:
        """Verify and decrypt."""
        if len(payload) < self.nonce_bytes + 16:
            raise DecryptionError("token payload is too short")
        nonce, body = payload[: self.nonce_bytes], payload[self.nonce_bytes :]
        try:
            return AESGCM(key).decrypt(nonce, body, associated_data)
        except InvalidTag:
            raise DecryptionError(_TAMPERED) from None


def _hmac_sm3_gmssl(key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) over gmssl's pure-Python SM3; block size 64 bytes."""
    from gmssl import sm3

    def digest(data: bytes) -> bytes:
        return bytes.fromhex(sm3.sm3_hash(list(data)))

    if len(key) > 64:
        key = digest(key)
    key = key.ljust(64, b"\x00")
    inner = digest(bytes(b ^ 0x36 for b in key) + message)
    return digest(bytes(b ^ 0x5C for b in key) + inner)


def _hmac_sm3_openssl(key: bytes, message: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import hmac as chmac

    mac = chmac.HMAC(key, hashes.SM3())
    mac.update(message)
    return mac.finalize()


@lru_cache(maxsize=1)
def _hmac_sm3_impl():
    # OpenSSL's SM3 is much faster; builds without it (FIPS, old OpenSSL) fall back to gmssl. Both give the
    # same result (checked in the tests).
    try:
        _hmac_sm3_openssl(b"k", b"m")
        return _hmac_sm3_openssl
    except Exception:
        return _hmac_sm3_gmssl


def hmac_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC-SM3 of ``message`` (32 bytes)."""
    return _hmac_sm3_impl()(key, message)


class Sm4Cipher:
    """SM4-CBC + HMAC-SM3, encrypt-then-MAC, via ``gmssl`` (see the module docstring)."""

    name = "sm4"
    iv_bytes = 16
    tag_bytes = 32

    @staticmethod
    @lru_cache(maxsize=64)
    def _subkeys(key: bytes) -> tuple[bytes, bytes]:
        return hmac_sm3(key, b"civicgrid/sm4-cbc/enc")[:16], hmac_sm3(key, b"civicgrid/sm4-cbc/mac")

    def _tag(self, mac_key: bytes, associated_data: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        # Length-prefix the associated data so (ad, iv+ct) boundaries cannot be shifted.
        return hmac_sm3(mac_key, len(associated_data).to_bytes(8, "big") + associated_data + iv + ciphertext)

    def seal(self, key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt; payload = IV + ciphertext + 32-byte HMAC-SM3 tag."""
        from gmssl.sm4 import SM4_ENCRYPT, CryptSM4

        enc_key, mac_key = self._subkeys(key)
        iv = os.urandom(self.iv_bytes)
        sm4 = CryptSM4()  # a fresh instance per call: CryptSM4 keeps mutable state
        sm4.set_key(enc_key, SM4_ENCRYPT)
        ciphertext = sm4.crypt_cbc(iv, plaintext)
        return iv + ciphertext + self._tag(mac_key, associated_data, iv, ciphertext)

    def open(self, key: bytes, payload: bytes, associated_data: bytes) -> bytes:
        """Verify the tag first, then decrypt."""
        from gmssl.sm4 import SM4_DECRYPT, CryptSM4

        body_len = len(payload) - self.iv_bytes - self.tag_bytes
        if body_len < 16 or body_len % 16:
            raise DecryptionError("token payload has the wrong length for SM4")
        enc_key, mac_key = self._subkeys(key)
        iv, ciphertext, tag = payload[:16], payload[16:-32], payload[-32:]
        if not hmac.compare_digest(tag, self._tag(mac_key, associated_data, iv, ciphertext)):
            raise DecryptionError(_TAMPERED)
        sm4 = CryptSM4()
        sm4.set_key(enc_key, SM4_DECRYPT)
        return sm4.crypt_cbc(iv, ciphertext)


_CIPHERS: dict[str, Cipher] = {c.name: c for c in (AesGcmCipher(), Sm4Cipher())}


def get_cipher(name: str) -> Cipher:
    """Return the cipher registered under ``name`` ("aes-gcm" or "sm4")."""
    try:
        return _CIPHERS[name]
    except KeyError:
        raise ValueError(f"unknown cipher {name!r}; choose one of {sorted(_CIPHERS)}") from None


# ---------------------------------------------------------------------------------------------- tokens


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise DecryptionError("token payload is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError("token payload is not base64url") from None


def _associated_data(algorithm: str, key_id: str, context: str) -> bytes:
    return f"civicgrid:{TOKEN_VERSION}:{algorithm}:{key_id}\x00{context}".encode()


def is_token(value: object) -> bool:
    """True if ``value`` looks like a token made by :meth:`FieldEncryptor.encrypt` (format only)."""
    return isinstance(value, str) and value.startswith(TOKEN_VERSION + ":") and value.count(":") == 3


def parse_token(token: str) -> tuple[str, str, bytes]:
    """Split a token into ``(algorithm, key_id, payload)``; raise :class:`DecryptionError` if malformed."""
    if not isinstance(token, str):
        raise DecryptionError("token must be a string")
    parts = token.split(":")
    if len(parts) != 4 or parts[0] != TOKEN_VERSION:
        raise DecryptionError(f"not an encrypted token (expected '{TOKEN_VERSION}:<algo>:<key id>:<data>')")
    _, algorithm, key_id, payload = parts
    if algorithm not in _CIPHERS:
        raise DecryptionError(f"token uses unknown algorithm {algorithm!r}")
    return algorithm, key_id, _unb64url(payload)


def normalise_for_index(value: str) -> str:
    """Normal form used by blind indexes: NFKC, trimmed, inner whitespace collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", value).split()).casefold()


class FieldEncryptor:
    """Encrypts and decrypts field values with a :class:`KeyRing` and a chosen cipher."""

    def __init__(self, keyring: KeyRing, algorithm: str = "aes-gcm") -> None:
        self.keyring = keyring
        self.cipher = get_cipher(algorithm)

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """Encrypt ``plaintext`` with the current key; ``context`` must be given again to decrypt."""
        if not isinstance(plaintext, str):
            raise TypeError(f"plaintext must be str, not {type(plaintext).__name__}")
        key_id = self.keyring.current
        ad = _associated_data(self.cipher.name, key_id, context)
        payload = self.cipher.seal(self.keyring.current_key, plaintext.encode("utf-8"), ad)
        return f"{TOKEN_VERSION}:{self.cipher.name}:{key_id}:{_b64url(payload)}"

    def decrypt(self, token: str, context: str = "") -> str:
        """Decrypt a token with the key and algorithm it names; raise :class:`DecryptionError` on failure."""
        algorithm, key_id, payload = parse_token(token)
        key = self.keyring.key(key_id)
        raw = _CIPHERS[algorithm].open(key, payload, _associated_data(algorithm, key_id, context))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("decrypted value is not UTF-8 text") from None

    def needs_reencrypt(self, token: str) -> bool:
        """True if the token was not made with the current key and the configured algorithm."""
        algorithm, key_id, _ = parse_token(token)
        return (algorithm, key_id) != (self.cipher.name, self.keyring.current)

    def reencrypt(self, token: str, context: str = "") -> str:
        """Return the token re-encrypted with the current key and algorithm (unchanged if already so)."""
        plaintext = self.decrypt(token, context)  # also proves the token is intact
        if not self.needs_reencrypt(token):
            return token
        return self.encrypt(plaintext, context)

    def blind_index(self, value: str, context: str) -> str:
        """Keyed HMAC-SHA256 (32 hex chars) of the normalised value, for exact-match lookups."""
        if "\x00" in context:
            raise ValueError("context must not contain NUL")
        message = context.encode("utf-8") + b"\x00" + normalise_for_index(value).encode("utf-8")
        digest = hmac.new(self.keyring.blind_index_key, message, hashlib.sha256).hexdigest()
        return digest[:BLIND_INDEX_HEX_CHARS]
