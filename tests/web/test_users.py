"""Dashboard users: scrypt hashes, the private users file, refusals with reasons."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest

from clm.errors import UserError
from clm.web.users import UserStore, check_password, hash_password


def test_hash_is_rfc7914_scrypt_of_the_password_and_salt() -> None:
    salt = bytes(range(16))
    stored = hash_password("pleaseletmein", salt=salt)
    scheme, n, r, p, salt_b64, key_b64 = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert base64.b64decode(salt_b64) == salt
    expected = hashlib.scrypt(b"pleaseletmein", salt=salt, n=16384, r=8, p=1, dklen=32)
    assert base64.b64decode(key_b64) == expected


def test_rfc7914_test_vector_through_the_same_function() -> None:
    # RFC 7914 §12, vector 3: P="pleaseletmein", S="SodiumChloride", N=16384, r=8, p=1.
    key = hashlib.scrypt(b"pleaseletmein", salt=b"SodiumChloride", n=16384, r=8, p=1, dklen=64)
    assert key.hex().startswith("7023bdcb3afd7348461c06cd81fd38eb")


def test_check_password_accepts_the_password_only() -> None:
    stored = hash_password("correct horse")
    assert check_password("correct horse", stored)
    assert not check_password("correct hors", stored)
    assert not check_password("correct horse", "md5$abc")
    assert not check_password("x", "garbage")
    assert hash_password("same") != hash_password("same")  # a new salt each time


def test_users_file_is_private_and_holds_no_password(tmp_path: Path) -> None:
    store = UserStore(tmp_path)
    store.create("ana", "a long password")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    text = store.path.read_text()
    assert "a long password" not in text
    data = json.loads(text)
    assert data["version"] == 1 and set(data["users"]) == {"ana"}
    assert list(tmp_path.joinpath(".clm").iterdir()) == [store.path]  # no temporary left
    store.create("bob", "another password")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_verify_create_list_delete(tmp_path: Path) -> None:
    store = UserStore(tmp_path)
    assert store.list() == [] and not store.verify("ana", "whatever1")
    store.create("ana", "a long password")
    store.create("bob@shop.example", "12345678")
    assert [u["name"] for u in store.list()] == ["ana", "bob@shop.example"]
    assert store.verify("ana", "a long password")
    assert not store.verify("ana", "A long password")
    assert not store.verify("carl", "a long password")
    store.delete("ana")
    assert not store.exists("ana") and not store.verify("ana", "a long password")
    assert UserStore(tmp_path).exists("bob@shop.example")  # read back from the file


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("", "long enough", "is not valid"),
        ("-ana", "long enough", "is not valid"),
        ("ana smith", "long enough", "is not valid"),
        ("ana", "short", "at least 8 characters"),
    ],
)
def test_bad_names_and_passwords_are_refused(
    tmp_path: Path, name: str, password: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        UserStore(tmp_path).create(name, password)
    assert not UserStore(tmp_path).path.exists()


def test_duplicates_unknown_users_and_a_broken_file_are_errors(tmp_path: Path) -> None:
    store = UserStore(tmp_path)
    store.create("ana", "a long password")
    with pytest.raises(UserError, match="already exists"):
        store.create("ana", "other password")
    with pytest.raises(UserError, match="no user 'bob'"):
        store.delete("bob")
    store.path.write_text("{not json")
    with pytest.raises(UserError, match=r"users\.json is not valid"):
        store.list()
