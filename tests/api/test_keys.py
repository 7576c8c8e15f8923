"""The key store a server verifies requests with: it remembers verified tokens (no hash
and no file check per request) yet sees keys created and revoked by another process
(``clm keys``) within RECHECK_SECONDS, and its own changes at once."""

from __future__ import annotations

import time
from pathlib import Path

from clm.api import keys
from clm.api.keys import KeyStore


def test_a_revocation_by_another_process_takes_effect_within_the_recheck_time(
    tmp_path: Path,
) -> None:
    server, cli = KeyStore(tmp_path), KeyStore(tmp_path)
    stored, key = cli.create("ingest", "web")
    assert server.verify(key) == stored
    assert server.verify(key + "x") is None
    cli.revoke("web")
    time.sleep(keys.RECHECK_SECONDS * 1.5)
    assert server.verify(key) is None
    fresh, other = cli.create("read")
    time.sleep(keys.RECHECK_SECONDS * 1.5)
    assert server.verify(other) == fresh


def test_its_own_changes_take_effect_at_once(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    stored, key = store.create("admin", "ops")
    assert store.verify(key) == stored
    store.revoke("ops")
    assert store.verify(key) is None


def test_unknown_tokens_do_not_grow_what_it_remembers(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    stored, key = store.create("ingest")
    for i in range(3 * keys.REMEMBERED):
        assert store.verify(f"clm_ingest_{i}_guess") is None
    assert len(store._verified) <= keys.REMEMBERED
    assert store.verify(key) == stored
