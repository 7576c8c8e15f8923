"""Automation files: the published schema, checks beyond it, file:line errors, versions."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from clm import Workspace
from clm.automation import definitions
from clm.errors import DefinitionError
from tests.automation.world import automation

GOOD = """\
name: winback
description: Win back customers at risk
priority: 5
trigger:
  segment_entered: {segments: [At Risk Customers, Cannot-lose Customers]}
audience:
  all:
    - monetary: {above: 100}
    - any: [{consent.email: true}, {consent.sms: true}]
reentry: {after: 90d}
holdout: 0.2
goal: {event: purchase, window: 14d}
steps:
  - id: mail
    type: send
    channel: email
    variants:
      - {name: A, weight: 1, template: {subject: "We miss you", text: "Come back"}}
      - {name: B, weight: 2, template: offer.yaml}
  - {id: wait, type: wait, duration: 3d}
  - id: check
    type: branch
    condition: {r_score: {at_least: 3}}
    then: done
    else: sms
  - {id: sms, type: send, channel: sms, template: {text: "Back? {{ offer }}"}}
  - {id: done, type: exit}
measurement: {margin: 0.3, incentive_cost: 5, message_cost: {email: 0.001, sms: 0.05}}
"""
OFFER = "email:\n  subject: Ten percent off\n  html: <p>Hello {{ name }}</p>\n"


def problems(ws: Workspace) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        ws.automations_validate()
    return [str(p) for p in info.value.problems]


def test_a_good_file_validates_with_its_template_file_read_in(ws: Workspace) -> None:
    (ws.root / "definitions" / "templates" / "offer.yaml").write_text(OFFER, encoding="utf-8")
    automation(ws, "winback", GOOD)
    [valid] = ws.automations_validate()
    assert valid["name"] == "winback" and valid["steps"] == 5
    [loaded] = definitions.validate(ws.root)
    variant_b = loaded.spec["steps"][0]["variants"][1]["template"]
    assert variant_b["subject"] == "Ten percent off"  # the file's email section
    assert loaded.reentry.days == 90 and loaded.holdout(0.1) == 0.2
    assert loaded.channels == {"email", "sms"}


def test_the_schema_is_published_and_valid(ws: Workspace) -> None:
    schema = ws.automations_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    shipped = Path(definitions.__file__).parents[1] / "schema" / "automation.schema.json"
    assert json.loads(shipped.read_text(encoding="utf-8")) == schema


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("channel: sms", "channel: fax"), 26, "steps[3].channel: 'fax' is not one of"),
        (
            ("duration: 3d", "duration: three days"),
            20,
            "steps[1].duration: 'three days' does not fit: A duration: 30m, 12h, 14d, 2w.",
        ),
        (("then: done", "then: nowhere"), 24, "then: no step with id 'nowhere'"),
        (("{id: sms,", "{id: wait,"), 26, "step id 'wait' is used twice"),
        (("r_score:", "r_scor:"), 23, "unknown profile field 'r_scor'"),
        (("Cannot-lose Customers]", "Cannot lose]"), 5, "unknown segment 'Cannot lose'"),
        (("priority: 5", "priority: high"), 3, "priority: 'high' is not of type 'integer'"),
        (("duration: 3d", "duration: 0h"), 20, "duration must be longer than 0"),
        (
            (
                "segment_entered: {segments: [At Risk Customers, Cannot-lose Customers]}",
                "score_crossing: {score: r_score, category: beauty, above: 4}",
            ),
            5,
            "r_score has no categories",
        ),
        (("  - {id: done, type: exit}\n", ""), 24, "then: no step with id 'done'"),
    ],
)
def test_errors_name_the_file_and_line(
    ws: Workspace, change: tuple[str, str], line: int, words: str
) -> None:
    (ws.root / "definitions" / "templates" / "offer.yaml").write_text(OFFER, encoding="utf-8")
    old, new = change
    assert old in GOOD
    automation(ws, "winback", GOOD.replace(old, new))
    found = problems(ws)
    assert any(p.startswith(f"definitions/automations/winback.yaml:{line}: ") for p in found), found
    assert any(words in p for p in found), found


def test_a_missing_template_file_and_a_hand_off_to_nothing(ws: Workspace) -> None:
    automation(ws, "winback", GOOD)  # offer.yaml does not exist
    automation(
        ws,
        "followup",
        "name: followup\ntrigger:\n  no_conversion: {automation: winbak}\n"
        "steps: [{id: s, type: send, channel: email, template: {subject: x}}]\n",
    )
    found = problems(ws)
    missing = "winback.yaml:19: template file definitions/templates/offer.yaml does not exist"
    assert any(p.endswith(missing) for p in found), found
    assert any(
        p.startswith("definitions/automations/followup.yaml:3: no_conversion names 'winbak'")
        for p in found
    ), found


def test_yaml_syntax_errors_and_duplicate_names(ws: Workspace) -> None:
    automation(ws, "broken", "name: x\ntrigger: {event: {type: a}\nsteps: []\n")
    simple = "name: same\ntrigger: {event: {type: a}}\nsteps: [{id: e, type: exit}]\n"
    automation(ws, "one", simple)
    automation(ws, "two", simple)
    found = problems(ws)
    assert any(p.startswith("definitions/automations/broken.yaml:3: not valid YAML") for p in found)
    assert any(
        p.startswith("definitions/automations/two.yaml:1: name 'same' is already used")
        for p in found
    ), found


def test_a_send_needs_the_channels_fields(ws: Workspace) -> None:
    automation(
        ws,
        "push",
        "name: push\ntrigger: {event: {type: a}}\n"
        "steps:\n  - {id: p, type: send, channel: push, template: {title: Hi}}\n",
    )
    assert problems(ws) == [
        "definitions/automations/push.yaml:4: a push template needs body",
    ]


def test_versions_follow_content_not_formatting(ws: Workspace) -> None:
    simple = "name: v\ntrigger: {event: {type: a}}\nsteps: [{id: e, type: exit}]\n"
    path = automation(ws, "v", simple)
    ws.run("2024-01-02", since="2024-01-01")
    path.write_text("# a comment\n" + simple.replace("{type: a}", "{ type: a }"), encoding="utf-8")
    assert ws.run("2024-01-03").versions == []  # same content: same version
    path.write_text(simple.replace("type: a", "type: b"), encoding="utf-8")
    assert ws.automations()["automations"][0]["changed"] is True
    assert ws.run("2024-01-04").versions == [("v", 2)]
    rows = ws.con.execute(
        "SELECT version, content_hash FROM automation_versions ORDER BY version"
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2] and rows[0][1] != rows[1][1]


BAD_FILES = {
    "schema": GOOD.replace("channel: sms", "channel: fax"),
    "semantic": GOOD.replace("then: done", "then: nowhere"),
    "syntax": "name: x\ntrigger: {event: {type: a}\nsteps: []\n",
    "scalar": "just words\n",
    "tagged": "name: !!python/name:os.system x\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_the_c_loader_reports_what_the_pure_python_one_does(
    ws: Workspace, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws.root / "definitions" / "templates" / "offer.yaml").write_text(OFFER, encoding="utf-8")
    automation(ws, "winback", BAD_FILES[name])
    fast = problems(ws)
    assert definitions.LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    monkeypatch.setattr(definitions, "LOADER", yaml.SafeLoader)
    monkeypatch.setattr(definitions, "_PARSED", {})
    # same file:line and texts (libyaml words a syntax error its own way)
    assert [_syntax_cut(p) for p in problems(ws)] == [_syntax_cut(p) for p in fast] and fast


def _syntax_cut(problem: str) -> str:
    return problem.split(" not valid YAML: ")[0]


def test_parsed_files_are_reused_until_their_text_changes(ws: Workspace) -> None:
    (ws.root / "definitions" / "templates" / "offer.yaml").write_text(OFFER, encoding="utf-8")
    path = automation(ws, "winback", GOOD)
    [first] = definitions.validate(ws.root)
    [again] = definitions.validate(ws.root)
    assert again.spec == first.spec and again.content_hash == first.content_hash
    again.spec["steps"].clear()  # a caller changing its copy changes nothing cached
    assert definitions.validate(ws.root)[0].spec == first.spec
    # same size, rewritten at once: the text, not the timestamp, decides
    path.write_text(GOOD.replace("priority: 5", "priority: 6"), encoding="utf-8")
    [changed] = definitions.validate(ws.root)
    assert changed.priority == 6 and changed.content_hash != first.content_hash
    path.write_text(GOOD.replace("priority: 5", "priority: x"), encoding="utf-8")
    assert any("winback.yaml:3: priority: 'x'" in p for p in problems(ws))
    # a template file is read at every load (the automation's hash follows it)
    path.write_text(GOOD, encoding="utf-8")
    (ws.root / "definitions" / "templates" / "offer.yaml").write_text(
        OFFER.replace("Ten", "Five"), encoding="utf-8"
    )
    [templated] = definitions.validate(ws.root)
    assert templated.spec["steps"][0]["variants"][1]["template"]["subject"] == "Five percent off"
