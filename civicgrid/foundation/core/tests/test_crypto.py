"""Field encryption: round trips, tampering, rotation, contexts, SM4, key files, blind indexes."""

import base64
import json
import stat
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.foundation.core import crypto
from civicgrid.foundation.core.crypto import (
    DecryptionError,
    FieldEncryptor,
    KeyFileError,
    KeyFilePermissionWarning,
    KeyRing,
    Sm4Cipher,
    get_cipher,
    is_token,
    parse_token,
)

ALGORITHMS = ["aes-gcm", "sm4"]


@pytest.fixture
def ring():
    return KeyRing.random()


def _flip(token: str, index: int) -> str:
    """Flip one bit of the decoded payload at ``index`` and re-encode the token."""
    head, payload = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[index] ^= 0x01
    return f"{head}:{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("text", ["", "张三", "140213199001011234", "山西省大同市平城区新建北路12号" * 20])
def test_round_trip(ring, algorithm, text):
    enc = FieldEncryptor(ring, algorithm)
    token = enc.encrypt(text, "people.resident.name")
    assert token.startswith(f"v1:{algorithm}:k1:")
    assert is_token(token)
    assert text not in token or text == ""
    assert enc.decrypt(token, "people.resident.name") == text


@given(text=st.text(max_size=200))
@settings(max_examples=50, deadline=None)
def test_round_trip_any_text(text):
    enc = FieldEncryptor(KeyRing.random(), "aes-gcm")
    assert enc.decrypt(enc.encrypt(text, "c"), "c") == text


def test_same_plaintext_gives_different_tokens(ring):
    enc = FieldEncryptor(ring)
    assert enc.encrypt("张三") != enc.encrypt("张三")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_any_altered_byte_is_detected(ring, algorithm):
    enc = FieldEncryptor(ring, algorithm)
    token = enc.encrypt("13812345678", "ctx")
    _, _, payload = parse_token(token)
    for index in range(len(payload)):
        with pytest.raises(DecryptionError, match="integrity check failed"):
            enc.decrypt(_flip(token, index), "ctx")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_truncated_token_is_rejected(ring, algorithm):
    enc = FieldEncryptor(ring, algorithm)
    token = enc.encrypt("张三")
    for cut in (4, 16, 40):
        with pytest.raises(DecryptionError):
            enc.decrypt(token[:-cut])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_context_fails(ring, algorithm):
    enc = FieldEncryptor(ring, algorithm)
    token = enc.encrypt("140213199001011234", "people.resident.id_number")
    with pytest.raises(DecryptionError, match="context"):
        enc.decrypt(token, "people.resident.phone")
    with pytest.raises(DecryptionError):
        enc.decrypt(token)


def test_header_cannot_be_swapped(ring):
    """Relabelling the algorithm or key id in the token header is detected."""
    two = ring.with_new_key("k2")
    enc = FieldEncryptor(two)
    token = enc.encrypt("张三")  # made with k2
    relabelled = token.replace(":k2:", ":k1:")
    with pytest.raises(DecryptionError):
        enc.decrypt(relabelled)


@pytest.mark.parametrize(
    "bad",
    ["", "plain text", "v2:aes-gcm:k1:AAAA", "v1:des:k1:AAAA", "v1:aes-gcm:k1:not base64!", "v1:aes-gcm:k1"],
)
def test_malformed_tokens(ring, bad):
    with pytest.raises(DecryptionError):
        FieldEncryptor(ring).decrypt(bad)


def test_unknown_key_id_is_a_clear_error(ring):
    token = FieldEncryptor(ring.with_new_key("k9")).encrypt("x")
    with pytest.raises(DecryptionError, match="unknown encryption key id 'k9'"):
        FieldEncryptor(ring).decrypt(token)


def test_key_from_another_ring_fails():
    token = FieldEncryptor(KeyRing.random()).encrypt("张三")
    with pytest.raises(DecryptionError, match="integrity"):
        FieldEncryptor(KeyRing.random()).decrypt(token)


def test_rotation_keeps_old_tokens_and_reencrypts_with_new_key(tmp_path):
    path = tmp_path / "keys.json"
    old_ring = KeyRing.generate(path)
    old_token = FieldEncryptor(old_ring).encrypt("13812345678", "people.resident.phone")

    new_ring = KeyRing.rotate(path)
    assert new_ring.current == "k2"
    assert set(new_ring.keys) == {"k1", "k2"}
    assert new_ring.keys["k1"] == old_ring.keys["k1"]
    assert new_ring.blind_index_key == old_ring.blind_index_key
    assert KeyRing.load(path).current == "k2"

    enc = FieldEncryptor(KeyRing.load(path))
    assert enc.decrypt(old_token, "people.resident.phone") == "13812345678"
    assert enc.needs_reencrypt(old_token)
    fresh = enc.reencrypt(old_token, "people.resident.phone")
    assert parse_token(fresh)[1] == "k2"
    assert not enc.needs_reencrypt(fresh)
    assert enc.decrypt(fresh, "people.resident.phone") == "13812345678"
    assert enc.reencrypt(fresh, "people.resident.phone") == fresh  # already current: unchanged
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reencrypt_refuses_tampered_token(ring):
    enc = FieldEncryptor(ring)
    with pytest.raises(DecryptionError):
        enc.reencrypt(_flip(enc.encrypt("x"), 3))


def test_switching_algorithm_still_decrypts_old_tokens(ring):
    aes_token = FieldEncryptor(ring, "aes-gcm").encrypt("张三", "c")
    sm4 = FieldEncryptor(ring, "sm4")
    assert sm4.decrypt(aes_token, "c") == "张三"
    moved = sm4.reencrypt(aes_token, "c")
    assert moved.startswith("v1:sm4:k1:")
    assert FieldEncryptor(ring).decrypt(moved, "c") == "张三"


def test_generate_writes_private_file_and_never_overwrites(tmp_path):
    path = tmp_path / "keys.json"
    ring = KeyRing.generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["current"] == "k1"
    assert len(base64.b64decode(data["keys"]["k1"])) == 32
    assert len(base64.b64decode(data["blind_index_key"])) == 32
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        KeyRing.generate(path)
    assert path.read_bytes() == before
    loaded = KeyRing.load(path)
    assert loaded.keys == ring.keys and loaded.blind_index_key == ring.blind_index_key


def test_load_warns_about_readable_key_file(tmp_path):
    path = tmp_path / "keys.json"
    KeyRing.generate(path)
    path.chmod(0o644)
    with pytest.warns(KeyFilePermissionWarning):
        KeyRing.load(path)
    path.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KeyRing.load(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not valid JSON"),
        ('{"current": "k1", "keys": {}}', "non-empty 'keys'"),
        ('{"current": "k2", "keys": {"k1": "%s"}, "blind_index_key": "%s"}', "current key 'k2'"),
        ('{"current": "k1", "keys": {"k1": "c2hvcnQ="}, "blind_index_key": "%s"}', "32 bytes"),
        ('{"current": "k1", "keys": {"k1": "%s"}}', "blind_index_key"),
    ],
)
def test_malformed_key_files(tmp_path, content, message):
    key = base64.b64encode(bytes(32)).decode()
    path = tmp_path / "keys.json"
    path.write_text(content.replace("%s", key))
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=message):
        KeyRing.load(path)


def test_missing_key_file(tmp_path):
    with pytest.raises(KeyFileError, match="does not exist"):
        KeyRing.load(tmp_path / "nope.json")


def test_keyring_repr_hides_keys(ring):
    assert base64.b64encode(ring.current_key).decode() not in repr(ring)
    assert ring.current_key.hex() not in repr(ring)


def test_unknown_cipher_name():
    with pytest.raises(ValueError, match="unknown cipher"):
        get_cipher("des")


def test_sm3_and_sm4_known_answers():
    """gmssl's SM4 (GB/T 32907 example) and our HMAC-SM3 agree with the standards and with OpenSSL."""
    from gmssl.sm4 import SM4_ENCRYPT, CryptSM4

    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    sm4 = CryptSM4()
    sm4.set_key(key, SM4_ENCRYPT)
    assert sm4.crypt_ecb(key)[:16].hex() == "681edf34d206965e86b3e94f536e4246"
    for k, m in [(b"key", b"abc"), (b"k" * 100, b"x" * 1000), (b"", b"")]:
        assert crypto._hmac_sm3_gmssl(k, m) == crypto._hmac_sm3_openssl(k, m)


def test_sm4_payload_layout(ring):
    token = FieldEncryptor(ring, "sm4").encrypt("0123456789abcdef")  # 16 bytes → 2 blocks with padding
    _, _, payload = parse_token(token)
    assert len(payload) == Sm4Cipher.iv_bytes + 32 + Sm4Cipher.tag_bytes


def test_blind_index(ring):
    enc = FieldEncryptor(ring)
    index = enc.blind_index("140213199001011234", "people.resident.id_number")
    assert len(index) == 32 and int(index, 16) >= 0
    assert enc.blind_index(" 140213199001011234 ", "people.resident.id_number") == index
    assert enc.blind_index("１４０２１３１９９００１０１１２３４", "people.resident.id_number") == index
    assert enc.blind_index("14021319900101123x", "c") == enc.blind_index("14021319900101123X", "c")
    assert enc.blind_index("140213199001011234", "people.resident.phone") != index
    assert (
        FieldEncryptor(KeyRing.random()).blind_index("140213199001011234", "people.resident.id_number")
        != index
    )
    assert enc.blind_index("张  三", "c") == enc.blind_index("张 三", "c")


def test_blind_index_survives_rotation(ring):
    assert FieldEncryptor(ring.with_new_key()).blind_index("a", "c") == FieldEncryptor(ring).blind_index(
        "a", "c"
    )


def test_encrypt_requires_text(ring):
    with pytest.raises(TypeError):
        FieldEncryptor(ring).encrypt(None)  # type: ignore[arg-type]
