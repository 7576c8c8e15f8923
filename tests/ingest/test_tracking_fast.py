"""The fast path of the tracking calls against the validated (pydantic) path.

Oracle: :mod:`clm.ingest.tracking` (pydantic models, then records). On generated calls,
plain and odd, the fast path must give the same records, or the same refusal (field and
reason); where it takes a call itself (no fallback) its records must be the validated
path's. Plain SDK calls must be taken by the fast path (else it would be dead code).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clm.ingest import tracking, tracking_fast
from clm.ingest.journal import to_journal
from clm.ingest.tracking import TrackingError

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
_UUID = re.compile(rb"api-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _canonical(records: list[tracking.Record]) -> bytes:
    """The records as journal JSON, with generated message ids made equal."""
    return _UUID.sub(b"api-X", orjson.dumps([to_journal(r) for r in records]))


def _outcome(parse: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", _canonical(parse(*args))
    except TrackingError as exc:
        return "refused", (exc.field, str(exc))


def _fast_only(data: Any, kind: str) -> bytes | None:
    """The fast path's own records, or None when it hands the call on."""
    clock = tracking_fast._Clock(NOW)
    try:
        if kind == "batch":
            return _canonical(tracking_fast._batch(data, NOW))
        return _canonical(tracking_fast._track(data, clock, ""))
    except tracking_fast._NotSure:
        return None


# -- generated calls -----------------------------------------------------------------------

ids = st.one_of(
    st.none(),
    st.text(min_size=0, max_size=6),
    st.sampled_from(["  ", " C1 ", "C00000001", "7", "x" * 257]),
    st.integers(-(2**62), 2**62),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
offsets = st.sampled_from(["Z", "+00:00", "-05:30", "+13:45", "", "+24:00", "-00:00", "+0100"])
fractions = st.sampled_from(["", ".5", ".123", ".123456", ".1234567", "."])


@st.composite
def timestamps(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return None
    if kind == 1:
        return draw(st.one_of(st.integers(0, 2_000_000_000), st.text(max_size=12)))
    moment = draw(
        st.datetimes(min_value=datetime(1890, 1, 1), max_value=datetime(2027, 1, 1))
    ).replace(microsecond=0)
    if kind == 2:  # near the limits: a day ahead, 1900
        moment = draw(
            st.sampled_from(
                [
                    NOW.replace(tzinfo=None) + timedelta(days=1, seconds=-1),
                    NOW.replace(tzinfo=None) + timedelta(days=1, seconds=1),
                    datetime(1900, 1, 1),
                    datetime(1899, 12, 31, 23, 59, 59),
                ]
            )
        )
    sep = draw(st.sampled_from(["T", "T", " ", "t"]))
    return moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + draw(fractions) + draw(offsets)


amounts = st.one_of(
    st.none(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["12.5", "abc", "", "1e400", True, [1]]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)


@st.composite
def products(draw: st.DrawFn) -> Any:
    return draw(
        st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {"price": amounts},
                    optional={"quantity": amounts, "category": st.sampled_from(["a", " ", 3])},
                ),
                st.just("not a product"),
            ),
            max_size=3,
        )
    )


@st.composite
def properties(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([None, [], "text", {"x" * 32_769: 1}]))
    props: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "revenue": amounts,
                "amount": amounts,
                "total": amounts,
                "value": amounts,
                "category": st.sampled_from(["beauty", " ", "", 7, None]),
                "order_id": st.sampled_from(["o-1", "", 0, 5, None, " o "]),
                "products": products(),
                "_extra": json_values,
            },
        )
    )
    props.update(draw(st.dictionaries(st.text(max_size=3), json_values, max_size=2)))
    return props


@st.composite
def track_calls(draw: st.DrawFn, plain: bool = False) -> dict[str, Any]:
    """A ``track`` call; ``plain``: as an SDK sends it (taken by the fast path)."""
    if plain:
        call: dict[str, Any] = {
            "type": "track",
            "event": draw(st.sampled_from(["purchase", "Order Completed", "Product Viewed"])),
            "messageId": draw(st.text("abc-0123456789", min_size=1, max_size=20)),
            "userId": draw(st.text("C0123456789", min_size=1, max_size=9)),
            "properties": {
                "revenue": draw(st.floats(0, 10_000, allow_nan=False)),
                "category": "beauty",
                "order_id": draw(st.text("o0123456789", min_size=1, max_size=8)),
            },
        }
        if draw(st.booleans()):
            call["timestamp"] = (NOW - timedelta(minutes=draw(st.integers(0, 10**6)))).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            )
        if draw(st.booleans()):
            call["context"] = {"library": {"name": "analytics-python", "version": "2.3"}}
        if draw(st.booleans()):
            call["unknownField"] = draw(json_values)  # kept under properties._extra
        return call
    call = {
        "type": draw(st.sampled_from(["track"] * 8 + ["page", "identify", None])),
        "event": draw(
            st.one_of(
                st.sampled_from(["purchase", "Order Completed", "", "x" * 257, 3]),
                st.text(max_size=5),
            )
        ),
    }
    optional = {
        "messageId": ids,
        "userId": ids,
        "anonymousId": ids,
        "timestamp": timestamps(),
        "properties": properties(),
        "context": st.one_of(
            st.none(), st.dictionaries(st.text(max_size=3), json_values, max_size=2), st.just([1])
        ),
        "integrations": st.one_of(st.none(), st.just({"All": True}), st.just("x")),
        "writeKey": st.one_of(st.none(), st.text(max_size=3), st.just(5)),
        "extraField": json_values,
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            call[name] = draw(strategy)
    if draw(st.integers(0, 9)) == 0:
        del call["event"]
    return call


def _check(data: Any, kind: str) -> None:
    if kind == "batch":
        slow = _outcome(tracking.parse_batch, data, NOW)
        fast = _outcome(tracking_fast.parse_batch, data, NOW)
    else:
        slow = _outcome(tracking.parse_message, data, kind, NOW)
        fast = _outcome(tracking_fast.parse_message, data, kind, NOW)
    assert fast == slow
    own = (
        _fast_only(data, kind)
        if kind == "batch" or (kind == "track" and isinstance(data, dict))
        else None
    )
    if own is not None:  # taken by the fast path itself: the validated path accepts it too
        assert slow == ("ok", own)


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(track_calls())
def test_single_track_calls_agree(call: dict[str, Any]) -> None:
    _check(call, "track")


@FAST
@given(st.lists(track_calls(), min_size=0, max_size=4), st.sampled_from([None, {"a": 1}, 5]))
def test_batches_agree(calls: list[dict[str, Any]], context: Any) -> None:
    body: dict[str, Any] = {"batch": calls}
    if context is not None:
        body["context"] = context
    _check(body, "batch")


@settings(max_examples=100, deadline=None)
@given(st.lists(track_calls(plain=True), min_size=1, max_size=5))
def test_plain_sdk_calls_are_taken_by_the_fast_path(calls: list[dict[str, Any]]) -> None:
    body = {"batch": calls, "writeKey": "k"}
    own = _fast_only(body, "batch")
    assert own is not None
    assert own == _canonical(tracking.parse_batch(body, NOW))
    for call in calls:
        assert _fast_only(call, "track") == _canonical(tracking.parse_message(call, "track", NOW))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"batch": [{"type": "track", "event": "purchase", "messageId": "m"}]}, "batch[0].userId"),
        (
            {"batch": [{"type": "track", "event": "purchase", "userId": "u", "properties": {}}]},
            "batch[0].properties.revenue",
        ),
        (
            {
                "batch": [
                    {"type": "track", "event": "x", "userId": "u"},
                    {"type": "track", "event": "", "userId": "u"},
                ]
            },
            "batch[1].event",
        ),
        (
            {
                "batch": [
                    {
                        "type": "track",
                        "event": "x",
                        "userId": "u",
                        "timestamp": "2099-01-01T00:00:00Z",
                    }
                ]
            },
            "batch[0].timestamp",
        ),
        ({"batch": []}, "batch"),
    ],
)
def test_refusals_name_the_field_as_the_validated_path(body: dict[str, Any], field: str) -> None:
    with pytest.raises(TrackingError) as fast:
        tracking_fast.parse_batch(body, NOW)
    with pytest.raises(TrackingError) as slow:
        tracking.parse_batch(body, NOW)
    assert fast.value.field == slow.value.field == field
    assert str(fast.value) == str(slow.value)


def test_unknown_fields_are_kept_and_offsets_read() -> None:
    call = {
        "event": "Order Completed",
        "userId": " C7 ",
        "anonymousId": "v1",
        "messageId": "m1",
        "timestamp": "2026-12-01T10:00:00.25+02:00",
        "properties": {"revenue": "19.99"},
        "campaign": {"source": "mail"},
    }
    records = tracking_fast._track(call, tracking_fast._Clock(NOW), "")
    link, purchase = records
    assert link == tracking.LinkRecord("m1", "v1", "C7", purchase.ts)
    assert isinstance(purchase, tracking.EventRecord)
    assert purchase.type == "purchase" and purchase.amount == 199_900
    assert purchase.ts == tracking.micros(datetime(2026, 12, 1, 8, 0, 0, 250_000, tzinfo=UTC))
    assert purchase.properties == {"revenue": "19.99", "_extra": {"campaign": {"source": "mail"}}}
    assert purchase.ts == tracking.micros(
        datetime(2026, 12, 1, 10, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    )


SURROGATE = "x\ud800"  # a lone surrogate: pydantic refuses it in text; orjson cannot carry it


@pytest.mark.parametrize(
    "place", ["event", "userId", "anonymousId", "messageId", "writeKey", "property key"]
)
def test_a_lone_surrogate_goes_the_validated_way(place: str) -> None:
    """A Python caller's dict (``Workspace.track``) can hold what JSON cannot; the fast
    path must refuse what the models refuse, not take it."""
    call: dict[str, Any] = {"type": "track", "event": "visit", "userId": "u", "messageId": "m"}
    if place == "property key":
        call["properties"] = {SURROGATE: 1}
    else:
        call[place] = SURROGATE
    assert _fast_only(call, "track") is None
    _check(call, "track")
    _check({"batch": [call]}, "batch")
    batch = {"batch": [{"type": "track", "event": "visit", "userId": "u"}]}
    _check({**batch, "writeKey": SURROGATE}, "batch")
    _check({**batch, "context": {SURROGATE: 1}}, "batch")
