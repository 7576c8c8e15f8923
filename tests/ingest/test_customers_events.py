"""Importing customers (traits, consent, links) and events (visits, anonymous visitors)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clm import ImportFailed, Workspace

CUSTOMERS = """id,mail,signup,tz,consent_email,sms_ok,age,income,anon
c1,ann@example.com,2024-01-05,Europe/Berlin,yes,no,38,65000,a-1
c2,,2024-02-01,,,,51,,
c3,bob@example.org,,America/New_York,1,true,29,42000,
"""


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def import_people(ws: Workspace, path: Path) -> object:
    return ws.import_customers(
        path,
        customer="id",
        email="mail",
        signup="signup",
        timezone_column="tz",
        consent={"sms": "sms_ok"},
        anonymous="anon",
    )


def test_traits_attributes_consent_and_links(ws: Workspace, tmp_path: Path) -> None:
    summary = import_people(ws, write(tmp_path, CUSTOMERS, "people.csv"))
    assert (summary.imported, summary.linked) == (3, 1)
    ann = ws.customer("c1")
    assert ann["traits"]["email"] == "ann@example.com"
    assert ann["traits"]["timezone"] == "Europe/Berlin"
    # every unmapped column is an attribute; numbers read from text stay text
    assert ann["attributes"] == {"age": "38", "income": "65000"}
    assert {ch: c["granted"] for ch, c in ann["consent"].items()} == {"email": True, "sms": False}
    assert ann["anonymous_ids"] == ["a-1"]
    assert ws.customer("c2")["consent"] == {}  # no consent recorded: not contactable


def test_reimport_is_idempotent_and_updates_field_by_field(ws: Workspace, tmp_path: Path) -> None:
    import_people(ws, write(tmp_path, CUSTOMERS, "people.csv"))
    again = import_people(ws, write(tmp_path, CUSTOMERS, "people.csv"))
    assert (again.imported, again.duplicates) == (0, 3)
    update = "id,mail,sms_ok,income\nc1,,yes,70000\n"
    changed = ws.import_customers(
        write(tmp_path, update, "update.csv"),
        customer="id",
        email="mail",
        consent={"sms": "sms_ok"},
    )
    assert changed.imported == 1
    ann = ws.customer("c1")
    assert ann["traits"]["email"] == "ann@example.com"  # an empty cell keeps what is known
    assert ann["attributes"] == {"age": "38", "income": "70000"}
    assert ann["consent"]["sms"]["granted"] is True
    history = ws.con.execute(
        "SELECT granted FROM consents WHERE customer_id = 'c1' AND channel = 'sms' ORDER BY ts"
    ).fetchall()
    assert [g for (g,) in history] == [False, True]


def test_bad_customer_rows_are_named(ws: Workspace, tmp_path: Path) -> None:
    text = "id,mail,tz,consent_email\nc1,not-an-email,Mars/Olympus,maybe\n,x@y.z,,\n"
    with pytest.raises(ImportFailed) as info:
        ws.import_customers(
            write(tmp_path, text, "bad.csv"), customer="id", email="mail", timezone_column="tz"
        )
    reasons = [(r.line, r.reason) for r in info.value.bad_rows]
    assert reasons[0][0] == 2
    assert "field mail: 'not-an-email' is not an email address" in reasons[0][1]
    assert "field tz: 'Mars/Olympus' is not a time zone" in reasons[0][1]
    assert "field consent_email: 'maybe' is not yes/no" in reasons[0][1]
    assert reasons[1] == (3, "field id: missing customer id")
    assert ws.status()["profiles"]["total"] == 0


def test_visits_of_anonymous_visitors_and_identity_resolution(
    ws: Workspace, tmp_path: Path
) -> None:
    visits = "anon,user,when\nv-1,,2024-03-01 10:00\nv-1,,2024-03-02 10:00\nv-2,,2024-03-03\n"
    summary = ws.import_events(
        write(tmp_path, visits, "visits.csv"),
        type="visit",
        anonymous="anon",
        customer="user",
        time="when",
    )
    assert summary.imported == 3
    assert ws.status()["profiles"] == {"customers": 0, "anonymous_visitors": 2, "total": 2}
    ws.score("2024-03-31")
    by_visitor = ws.scores().set_index("anonymous_id")["segment"]
    assert by_visitor.to_dict() == {"v-1": "Engaged Visitors", "v-2": "Engaged Visitors"}
    # a later event carrying both ids links v-1's history to customer u-1
    signup = "anon,user,when\nv-1,u-1,2024-03-04 09:00\n"
    linked = ws.import_events(
        write(tmp_path, signup, "signup.csv"),
        type="email_signup",
        anonymous="anon",
        customer="user",
        time="when",
    )
    assert linked.linked == 1
    ws.score("2024-03-31")
    scores = ws.scores()
    u1 = scores[scores["customer_id"] == "u-1"].iloc[0]
    assert u1["segment"] == "Loyal Visitors"  # the signup makes an email known
    assert bool(u1["anonymous_id"] is None or pd.isna(u1["anonymous_id"]))
    assert ws.customer("u-1")["events"] == {"email_signup": 1, "visit": 2}
    assert set(scores["anonymous_id"].dropna()) == {"v-2"}


def test_event_types_from_a_column_and_properties(ws: Workspace, tmp_path: Path) -> None:
    text = "user,kind,ts,sku,cat\nu1,product_view,2024-01-01,S1,beauty\nu1,visit,2024-01-01,,\n"
    ws.import_events(
        write(tmp_path, text, "ev.csv"),
        type_column="kind",
        customer="user",
        time="ts",
        category="cat",
        properties=["sku"],
    )
    rows = ws.con.execute(
        "SELECT type, category, properties->>'sku' FROM events ORDER BY type"
    ).fetchall()
    assert rows == [("product_view", "beauty", "S1"), ("visit", None, None)]


def test_events_need_a_type(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="--type TYPE or --type-column COL"):
        ws.import_events(
            write(tmp_path, "user,ts\nu1,2024-01-01\n", "ev.csv"), customer="user", time="ts"
        )
