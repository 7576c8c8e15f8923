"""The flow drawing of an automation: links as the runner follows them, words, geometry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from clm.automation import definitions
from clm.automation.conditions import describe
from clm.web.flow import BOX_CHARS, END, Link, condition_text, flow, links, trigger_text

SEEDS = Path(__file__).parents[2] / "src" / "clm" / "ingest" / "demo" / "automations"


def test_conditions_and_triggers_in_plain_words() -> None:
    condition = {"all": [{"n_orders_life": 0}, {"days_since_signup": {"at_most": 90}}]}
    assert condition_text(condition) == "(n_orders_life = 0 and days_since_signup ≤ 90)"
    assert condition_text({"not": {"consent.sms": True}}) == "not (consent.sms = true)"
    assert condition_text({"segment": {"in": ["A", "B"]}, "x": {"exists": False}}) == (
        "segment in [A, B] and x missing"
    )
    numbers = {"any": [{"r_score": {"at_least": 4, "below": 6}}, {"not": {"f_score": 1}}]}
    assert condition_text(numbers) == describe(numbers)  # one describer: `clm why`'s words
    assert condition_text(numbers) == "(r_score ≥ 4 and < 6 or not (f_score = 1))"
    crossing = {"score_crossing": {"score": "rising", "category": "beauty", "above": 1}}
    assert trigger_text(crossing) == "rising of beauty reaches 1"
    assert trigger_text({"event": {"type": "signup", "where": {"src": "web"}}}) == (
        "event signup where src = web"
    )


def test_a_wait_for_an_event_has_two_ways_on() -> None:
    steps = [
        {"id": "w", "type": "wait", "until_event": {"type": "buy"}, "timeout": "2d",
         "on_timeout": "nudge"},
        {"id": "done", "type": "exit"},
        {"id": "nudge", "type": "send", "channel": "sms", "template": {"text": "hi"}},
    ]  # fmt: skip
    assert links(steps) == [
        Link("w", "done", "event"),
        Link("w", "nudge", "timeout"),
        Link("nudge", END),
    ]


def test_shorter_detours_run_nearer_the_boxes() -> None:
    spec = {
        "trigger": {"event": {"type": "signup"}},
        "steps": [
            {"id": "a", "type": "branch", "condition": {"x": 1}, "then": "e", "else": "b"},
            {"id": "b", "type": "wait", "duration": "1d"},
            {"id": "c", "type": "branch", "condition": {"x": 2}, "then": "e", "else": "d"},
            {"id": "d", "type": "send", "channel": "sms", "template": {"text": "hi"}},
            {"id": "e", "type": "exit"},
        ],
    }
    drawn = flow("x", spec)
    assert [b["id"] for b in drawn["boxes"]] == ["trigger", "a", "b", "c", "d", "e"]  # no end
    detours = {p["ly"]: p["d"] for p in drawn["paths"] if p["d"].count("H") == 2}
    assert len(detours) == 2  # a → e and c → e go around; the other five links go straight
    lane = {y: int(re.findall(r"H(\d+)", d)[0]) for y, d in detours.items()}
    from_a, from_c = sorted(lane)  # a's box is above c's
    assert lane[from_c] < lane[from_a]  # the shorter detour is inside: no crossing


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_seed_programme_draws_every_step_and_link(path: Path) -> None:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert definitions.semantic_problems(spec) == []
    drawn = flow(spec["name"], spec)
    ids = [s["id"] for s in spec["steps"]]
    assert [s["id"] for s in drawn["steps"]] == ids
    assert len(drawn["paths"]) == len(links(spec["steps"])) + 1  # and trigger → first step
    for box in drawn["boxes"]:
        assert len(box["text"]) <= BOX_CHARS
        assert box["x"] + box["w"] <= drawn["width"] and box["y"] + box["h"] <= drawn["height"]
    for path_d in (p["d"] for p in drawn["paths"]):
        xs = [int(n) for n in re.findall(r"[MH](\d+)", path_d)]
        assert max(xs) <= drawn["width"]
