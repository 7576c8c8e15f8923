"""A purchase history sent through ``/v1/batch`` to a real ``clm serve``, shuffled and with
repeats, ends in the profiles ``clm score`` computes from the same events; and an answered
event survives ``kill -9`` (issue 5, "How I will check it")."""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from clm import Workspace
from clm.api.keys import KeyStore
from clm.ingest import demo
from clm.ingest.demo import DemoWorld
from tests.api import server
from tests.profiles.test_live import SCORE_COLUMNS as SCORES


def iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def messages(world: DemoWorld) -> list[dict[str, Any]]:
    """The demo world as the calls a website and a shop backend would make."""
    out: list[dict[str, Any]] = []
    for c in world.customers.itertuples():
        consent = {
            ch: bool(v)
            for ch in ("email", "sms", "push")
            if isinstance(v := getattr(c, f"consent_{ch}"), bool)
        }
        traits: dict[str, Any] = {
            "signup_at": iso(c.signup_at),
            "consent": consent,
            "city": c.city,
            "age": int(c.age),
        }
        if isinstance(c.email, str):
            traits["email"] = c.email
        message = {
            "type": "identify",
            "messageId": f"id-{c.customer_id}",
            "userId": c.customer_id,
            "timestamp": iso(c.signup_at),
            "traits": traits,
        }
        if isinstance(c.anonymous_id, str):
            message["anonymousId"] = c.anonymous_id
        out.append(message)
    for t in world.transactions.itertuples():
        out.append(
            {
                "type": "track",
                "event": "purchase",
                "messageId": t.event_id,
                "userId": t.customer_id,
                "timestamp": iso(t.ts),
                "properties": {"order_id": t.order_id, "revenue": t.amount, "category": t.category},
            }
        )
    for e in world.events.itertuples():
        who = {"userId": text(e.customer_id), "anonymousId": text(e.anonymous_id)}
        who = {k: v for k, v in who.items() if v is not None}
        props = {"category": e.category} if isinstance(e.category, str) else {}
        if e.type == "visit":
            out.append(
                {
                    "type": "page",
                    "messageId": e.event_id,
                    "timestamp": iso(e.ts),
                    "properties": props,
                    **who,
                }
            )
        else:
            out.append(
                {
                    "type": "track",
                    "event": e.type,
                    "messageId": e.event_id,
                    "timestamp": iso(e.ts),
                    "properties": props,
                    **who,
                }
            )
    return out


def send(
    url: str, key: str, batch: list[dict[str, Any]], client: httpx.Client | None = None
) -> None:
    post = client.post if client is not None else httpx.post
    answer = post(f"{url}/v1/batch", json={"batch": batch}, auth=(key, ""), timeout=30)
    assert answer.status_code == 200, answer.text


def test_a_shuffled_history_with_repeats_matches_clm_score(tmp_path: Path) -> None:
    world = demo.generate(1_200, seed=21)
    root = tmp_path / "ws"
    Workspace.init(root).close()
    store = KeyStore(root)
    _, ingest = store.create("ingest")
    _, admin = store.create("admin")
    calls = messages(world)
    rng = random.Random(5)
    calls += rng.sample(calls, len(calls) // 20)  # repeats: the same messageId again
    rng.shuffle(calls)
    with server.running(root, tmp_path / "serve.log") as url:
        with httpx.Client() as client:
            for i in range(0, len(calls), 100):
                send(url, ingest, calls[i : i + 100], client)
        scored = subprocess.run(
            [server.clm_executable(), "score", "-w", str(root), "--json"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        assert scored.returncode == 0, scored.stderr
        bearer = {"Authorization": f"Bearer {admin}"}
        ids = sorted(set(world.customers.customer_id).union(world.events.anonymous_id.dropna()))
        sample = ["C-SEED-0001", *random.Random(1).sample(ids, 150)]
        live = {}
        with httpx.Client(base_url=url, headers=bearer, timeout=30) as client:
            for pid in sample:
                answer = client.get(f"/v1/profiles/{pid}")
                if answer.status_code == 200:
                    live[pid] = answer.json()
            segments = client.get("/v1/segments").json()
            health = client.get("/v1/admin/status").json()["server"]  # named when one differs
    with Workspace.open(root) as ws:
        n_events = ws.status()["events"]["total"]
        batch = ws.scores()
        counts = ws.segments().set_index("segment")["customers"].to_dict()
    assert n_events == len(world.transactions) + len(world.events)
    by_id = {
        (r["customer_id"] if isinstance(r["customer_id"], str) else r["anonymous_id"]): r
        for r in batch.to_dict("records")
    }
    assert len(live) > 100
    for pid, view in live.items():
        row = by_id[view["id"]]
        for column in SCORES:
            want = None if pd.isna(row[column]) else row[column]
            got = view["scores"][column]
            assert want == got or (isinstance(want, float) and math.isclose(want, got)), (
                pid,
                column,
                want,
                got,
                health,
            )
        assert view["scores"]["segment_since"] == str(row["segment_since"])[:10]
    live_counts = {r["segment"]: r["customers"] for r in segments["segments"]}
    assert {k: v for k, v in live_counts.items() if v} == {k: v for k, v in counts.items() if v}


def test_an_answered_event_survives_kill_9(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    _, key = KeyStore(root).create("ingest")
    port = server.free_port()
    process = server.start(root, port, tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        for i in range(30):
            batch = [
                {
                    "type": "track",
                    "event": "purchase",
                    "messageId": f"k-{i}-{j}",
                    "userId": f"u{j % 7}",
                    "timestamp": "2026-11-01T10:00:00Z",
                    "properties": {"revenue": 10 + j, "order_id": f"o-{i}-{j}"},
                }
                for j in range(50)
            ]
            send(url, key, batch)
            sent += len(batch)
        os.kill(process.pid, signal.SIGKILL)  # right after the last answer
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    with server.running(root, tmp_path / "serve2.log") as url2:
        # The restarted server wrote what the killed one had only journaled.
        assert httpx.get(f"{url2}/v1/health").status_code == 200
    with Workspace.open(root) as ws:
        assert ws.status()["events"]["total"] == sent
        assert (
            ws.con.execute("SELECT count(DISTINCT event_id) FROM events").fetchall()[0][0] == sent
        )


def test_a_restart_stores_each_journaled_record_once(tmp_path: Path) -> None:
    """Starting twice over the same journal stores each record once."""
    root = tmp_path / "ws"
    Workspace.init(root).close()
    _, key = KeyStore(root).create("ingest")
    with server.running(root, tmp_path / "a.log") as url:
        send(
            url,
            key,
            [
                {
                    "type": "page",
                    "messageId": f"p{i}",
                    "anonymousId": "v1",
                    "timestamp": "2026-11-01T10:00:00Z",
                }
                for i in range(20)
            ],
        )
    with server.running(root, tmp_path / "b.log"):
        pass
    with Workspace.open(root) as ws:
        assert ws.status()["events"]["total"] == 20
