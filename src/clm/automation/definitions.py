"""Automation definitions: YAML files checked against the published JSON Schema.

An automation lives in ``<workspace>/definitions/automations/*.yaml``: a trigger, an
audience, a flat list of steps linked by id and tagged by type (after dittofeed's
journeys), a goal and its measurement settings. :func:`load` reads every file,
validates it against ``clm/schema/automation.schema.json`` and then checks what a schema
cannot: unique step ids, targets that exist, referenced automations and template files
that exist, known profile fields. Each problem names the file and the line (from
PyYAML's node marks). Template files named by a send step are read into the definition,
so the stored version holds everything a send needs and its hash changes with them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from clm.automation import conditions
from clm.automation.durations import parse_duration
from clm.errors import DefinitionError, DefinitionProblem
from clm.scores.segments import PROSPECT, SEGMENTS

AUTOMATIONS = Path("definitions") / "automations"
TEMPLATES = Path("definitions") / "templates"
# libyaml's loader when PyYAML was built with it (about 10x faster than the pure-Python one);
# both give node marks, so problems keep their lines
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Where = list[Any]  # a path into a definition: keys and list indices
CONSENT_CHANNELS = frozenset({"email", "sms", "push"})
SCOPED = conditions.SCOPED_FIELDS
SCOPED_WORDS = ", ".join(sorted(SCOPED))
REQUIRED_FIELDS = {
    "email": ("subject",),
    "sms": ("text",),
    "push": ("title", "body"),
    "banner": ("placement",),
    "webhook": (),
}


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of an automation file."""
    text = resources.files("clm").joinpath("schema/automation.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(str(text))
    return loaded


@dataclass(frozen=True)
class Automation:
    """One validated automation definition (templates resolved), as a version holds it."""

    name: str
    spec: dict[str, Any]
    path: str
    content_hash: str
    version: int = 0
    order: tuple[str, ...] = field(default=(), compare=False)

    @staticmethod
    def from_spec(spec: dict[str, Any], path: str, version: int = 0) -> Automation:
        canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        order = tuple(str(s["id"]) for s in spec["steps"])
        return Automation(str(spec["name"]), spec, path, digest, version, order)

    @property
    def trigger_kind(self) -> str:
        return str(next(iter(self.spec["trigger"])))

    @property
    def trigger(self) -> dict[str, Any]:
        value: dict[str, Any] = self.spec["trigger"][self.trigger_kind]
        return value

    @property
    def priority(self) -> int:
        return int(self.spec.get("priority", 0))

    @property
    def experiment_key(self) -> str:
        return str(self.spec.get("experiment_key") or self.name)

    @property
    def audience(self) -> dict[str, Any] | None:
        value = self.spec.get("audience")
        return dict(value) if value else None

    @property
    def goal(self) -> dict[str, Any] | None:
        value = self.spec.get("goal")
        return dict(value) if value else None

    # The derived values below are read per customer (every enrolment, every step): each
    # is worked out once per Automation object (``cached_property`` writes the instance's
    # ``__dict__``, which a frozen dataclass allows; the spec is never changed in place).

    @cached_property
    def goal_window(self) -> timedelta | None:
        goal = self.goal
        return parse_duration(goal["window"]) if goal else None

    @cached_property
    def reentry(self) -> str | timedelta:
        """``"never"`` (the default), ``"always"``, or the pause after the last enrolment."""
        value = self.spec.get("reentry", "never")
        return parse_duration(value["after"]) if isinstance(value, Mapping) else str(value)

    def holdout(self, default: float) -> float:
        return float(self.spec.get("holdout", default))

    @cached_property
    def _steps(self) -> dict[str, dict[str, Any]]:
        by_id: dict[str, dict[str, Any]] = {}
        for step in self.spec["steps"]:
            by_id.setdefault(step["id"], step)  # the first of an id, as a scan finds it
        return by_id

    def step(self, step_id: str) -> dict[str, Any]:
        step = self._steps.get(step_id)
        if step is None:
            raise KeyError(step_id)
        return dict(step)

    def next_step(self, step_id: str) -> str | None:
        """The step after ``step_id``: its ``next``, else the following one in the list."""
        step = self.step(step_id)
        if step.get("next"):
            return str(step["next"])
        index = self.order.index(step_id)
        return self.order[index + 1] if index + 1 < len(self.order) else None

    @cached_property
    def channels(self) -> frozenset[str]:
        return frozenset(s["channel"] for s in self.spec["steps"] if s["type"] == "send")

    @property
    def message_costs(self) -> dict[str, float]:
        return dict(self._costs)

    @cached_property
    def _costs(self) -> dict[str, float]:
        costs = self.spec.get("measurement", {}).get("message_cost", {})
        return {str(k): float(v) for k, v in costs.items()}


# -- loading ---------------------------------------------------------------------------------


def load(root: Path) -> tuple[list[Automation], list[DefinitionProblem]]:
    """Every automation file of the workspace: the valid ones and the problems of the rest."""
    folder = root / AUTOMATIONS
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.exists() else []
    loaded: list[tuple[Automation, yaml.Node]] = []
    problems: list[DefinitionProblem] = []
    for path in files:
        automation, node, found = load_file(path, root)
        problems += found
        if automation is not None and node is not None:
            loaded.append((automation, node))
    good, cross = _cross_checks(loaded, root)
    return good, problems + cross


def validate(root: Path) -> list[Automation]:
    """The valid automations; raises :class:`DefinitionError` naming every problem."""
    automations, problems = load(root)
    if problems:
        raise DefinitionError(problems)
    return automations


def load_file(
    path: Path, root: Path
) -> tuple[Automation | None, yaml.Node | None, list[DefinitionProblem]]:
    """Parse and check one file; the automation is None when the file has problems."""
    shown = _shown(path, root)
    try:
        parsed = _parsed(path)
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, [DefinitionProblem(shown, None, f"cannot read: {exc}")]
    if isinstance(parsed, _Unparsable):
        return None, None, [DefinitionProblem(shown, parsed.line, parsed.message)]
    node, data = parsed.node, parsed.data
    problems = [
        DefinitionProblem(shown, line_of(node, where), message)
        for where, message in parsed.schema_problems
    ]
    if problems:
        return None, node, problems
    problems = [
        DefinitionProblem(shown, line_of(node, where), message)
        for where, message in semantic_problems(data)
    ]
    resolved, template_problems = _resolve_templates(data, root)
    problems += [
        DefinitionProblem(shown, line_of(node, where), message)
        for where, message in template_problems
    ]
    if problems:
        return None, node, problems
    return Automation.from_spec(resolved, shown), node, []


@dataclass(frozen=True)
class _Parsed:
    """A file's YAML (the node keeps the lines) and its JSON Schema problems; read-only."""

    node: yaml.Node
    data: dict[str, Any]
    schema_problems: tuple[tuple[Where, str], ...]


@dataclass(frozen=True)
class _Unparsable:
    line: int | None
    message: str


# path -> (its text, what it parses to): the dashboard and every scheduler tick load the
# definitions again, mostly unchanged. Keyed by the text, not the modification time, so a
# rewrite within the file system's timestamp granularity is never missed (reading is cheap,
# parsing and the schema check are not).
_PARSED: dict[str, tuple[str, _Parsed | _Unparsable]] = {}
_LOCK = threading.Lock()  # the dashboard reads from several threads


def _parsed(path: Path) -> _Parsed | _Unparsable:
    """:func:`_parse` of the file, kept while its text stays the same."""
    text = path.read_text(encoding="utf-8")
    key = str(path.resolve())
    with _LOCK:
        hit = _PARSED.get(key)
    if hit is not None and hit[0] == text:
        return hit[1]
    found = _parse(text)
    with _LOCK:
        _PARSED[key] = (text, found)
    return found


def _parse(text: str) -> _Parsed | _Unparsable:
    """One pass of the (C, when PyYAML has it) loader: the node tree for line numbers and
    the document built from it; then the schema check."""
    loader = LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        return _Unparsable(line, f"not valid YAML: {exc.problem}")
    finally:
        loader.dispose()
    if node is None or not isinstance(data, dict):
        return _Unparsable(1, "an automation file must be a mapping")
    problems = tuple((list(err.absolute_path), _message(err)) for err in _schema_errors(data))
    return _Parsed(node, data, problems)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _schema_errors(data: dict[str, Any]) -> list[ValidationError]:
    validator = jsonschema.Draft202012Validator(schema())
    errors = []
    for err in validator.iter_errors(data):
        errors.append(best_match(err.context) if err.context else err)
    return sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])


def _message(err: ValidationError) -> str:
    path = _dotted(list(err.absolute_path))
    message = err.message
    if err.validator == "pattern" and isinstance(err.schema, dict) and "description" in err.schema:
        message = f"{err.instance!r} does not fit: {err.schema['description']}"
    return f"{path}: {message}" if path else message


def _dotted(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(node: yaml.Node, path: Sequence[Any]) -> int:
    """The 1-based line of the YAML node at ``path`` (keys and indices), or of its
    deepest existing ancestor."""
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


# -- checks a schema cannot make -------------------------------------------------------------


def semantic_problems(data: dict[str, Any]) -> list[tuple[Where, str]]:
    """Step ids, targets, fields, segments and crossing thresholds of one definition."""
    out: list[tuple[Where, str]] = []
    steps = data["steps"]
    ids = [s["id"] for s in steps]
    seen: set[str] = set()
    for i, sid in enumerate(ids):
        if sid in seen:
            out.append((["steps", i, "id"], f"step id {sid!r} is used twice"))
        seen.add(sid)
    for i, step in enumerate(steps):
        for key in ("next", "then", "else", "on_timeout"):
            target = step.get(key)
            if target is not None and target not in seen:
                out.append((["steps", i, key], f"{key}: no step with id {target!r}"))
        if step["type"] == "branch":
            out += _field_problems(step["condition"], ["steps", i, "condition"])
        for key in ("duration", "timeout"):
            if key in step and parse_duration(step[key]) <= timedelta(0):
                out.append((["steps", i, key], f"{key} must be longer than 0"))
        names = [v["name"] for v in step.get("variants", [])]
        if len(set(names)) != len(names):
            out.append((["steps", i, "variants"], "variant names must be unique"))
    if data.get("audience"):
        out += _field_problems(data["audience"], ["audience"])
    out += _trigger_problems(data["trigger"])
    return out


def _field_problems(condition: dict[str, Any], where: Where) -> list[tuple[Where, str]]:
    return [
        (where, f"unknown profile field {name!r}") for name in conditions.unknown_fields(condition)
    ]


def _trigger_problems(trigger: dict[str, Any]) -> list[tuple[Where, str]]:
    kind, body = next(iter(trigger.items()))
    out: list[tuple[Where, str]] = []
    if kind == "segment_entered":
        known = {*SEGMENTS, PROSPECT}
        for i, name in enumerate(body["segments"]):
            if name not in known:
                out.append((["trigger", kind, "segments", i], f"unknown segment {name!r}"))
    if kind == "score_crossing" and body.get("rearm_below", body["above"]) > body["above"]:
        out.append((["trigger", kind, "rearm_below"], "rearm_below must not exceed above"))
    if kind == "score_crossing" and "category" in body and body["score"] not in SCOPED:
        out.append(
            (
                ["trigger", kind, "category"],
                f"{body['score']} has no categories (only {SCOPED_WORDS})",
            )
        )
    return out


def _resolve_templates(
    data: dict[str, Any], root: Path
) -> tuple[dict[str, Any], list[tuple[Where, str]]]:
    """A copy of ``data`` with template files read in, and the problems found."""
    resolved = json.loads(json.dumps(data, default=str))
    problems: list[tuple[Where, str]] = []
    for i, step in enumerate(resolved["steps"]):
        if step["type"] != "send":
            continue
        holders: list[tuple[Where, dict[str, Any]]] = []
        if "template" in step:
            holders.append((["steps", i, "template"], step))
        for j, variant in enumerate(step.get("variants", [])):
            holders.append((["steps", i, "variants", j, "template"], variant))
        for where, holder in holders:
            template, problem = _template(holder["template"], step["channel"], root)
            if problem:
                problems.append((where, problem))
            else:
                holder["template"] = template
    return resolved, problems


def _template(value: Any, channel: str, root: Path) -> tuple[dict[str, Any], str | None]:
    if isinstance(value, str):
        path = root / TEMPLATES / value
        try:
            loaded = yaml.load(path.read_text(encoding="utf-8"), LOADER)
        except FileNotFoundError:
            return {}, f"template file {TEMPLATES / value} does not exist"
        except (OSError, yaml.YAMLError) as exc:
            return {}, f"template file {TEMPLATES / value} cannot be read: {exc}"
        if not isinstance(loaded, dict):
            return {}, f"template file {TEMPLATES / value} must hold a mapping of fields"
        if isinstance(loaded.get(channel), dict):
            loaded = loaded[channel]
        value = {**loaded, "file": str(TEMPLATES / value)}
    missing = [f for f in REQUIRED_FIELDS[channel] if f not in value]
    if missing:
        return {}, f"a {channel} template needs {', '.join(missing)}"
    return dict(value), None


def _cross_checks(
    loaded: list[tuple[Automation, yaml.Node]], root: Path
) -> tuple[list[Automation], list[DefinitionProblem]]:
    """Names unique across files; hand-off triggers name an existing other automation."""
    del root
    names: dict[str, str] = {}
    problems: list[DefinitionProblem] = []
    for automation, node in loaded:
        if automation.name in names:
            problems.append(
                DefinitionProblem(
                    automation.path,
                    line_of(node, ["name"]),
                    f"name {automation.name!r} is already used by {names[automation.name]}",
                )
            )
        names.setdefault(automation.name, automation.path)
    bad_paths = {p.file for p in problems}
    for automation, node in loaded:
        if automation.trigger_kind != "no_conversion":
            continue
        other = automation.trigger["automation"]
        if other not in names or other == automation.name:
            problems.append(
                DefinitionProblem(
                    automation.path,
                    line_of(node, ["trigger", "no_conversion", "automation"]),
                    f"no_conversion names {other!r}, which is not another automation here",
                )
            )
            bad_paths.add(automation.path)
    good = [a for a, _ in loaded if a.path not in bad_paths]
    return good, problems


def iter_steps(automation: Automation) -> Iterator[dict[str, Any]]:
    yield from (dict(s) for s in automation.spec["steps"])
