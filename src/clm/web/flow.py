"""An automation definition drawn as a flow: its steps in plain words, their links, and the
geometry of an SVG drawing of them (boxes in a column, links to the next row straight
down, every other link routed along the right-hand side).

A definition is a flat list of steps linked by id (``clm.automation.definitions``); a
step without ``next`` goes on to the following one in the list, the last one ends the
enrolment. A ``branch`` goes to ``then`` or ``else``; a ``wait`` with ``until_event``
goes on when the event happens and to ``on_timeout`` (default: the following step) at
the timeout; an ``exit`` ends the enrolment (as the runner does, ``clm.automation.steps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clm.automation.conditions import describe
from clm.charts import PALETTE

END = "end"
BOX_W, BOX_H, PITCH, LEFT, TOP, LANE = 400, 46, 74, 10, 10, 22
BOX_CHARS = 52  # what fits a box at 13px; the full text is in its tooltip and the list
COLOURS = {
    "trigger": PALETTE[4],
    "send": PALETTE[0],
    "wait": PALETTE[1],
    "branch": PALETTE[3],
    "exit": "#57606a",
    END: "#57606a",
}


@dataclass(frozen=True)
class Link:
    """A link from one step to another (or to :data:`END`), with a label such as "yes"."""

    source: str
    target: str
    label: str = ""


def trigger_text(trigger: dict[str, Any]) -> str:
    """The trigger of a definition in plain words."""
    kind, value = next(iter(trigger.items()))
    if kind == "segment_entered":
        return "entered " + " or ".join(value["segments"])
    if kind == "score_crossing":
        scope = f" of {value['category']}" if value.get("category") else ""
        again = (
            f" (again after it fell below {value['rearm_below']})"
            if value.get("rearm_below") is not None
            else ""
        )
        return f"{value['score']}{scope} reaches {value['above']}{again}"
    if kind == "event":
        return f"event {value['type']}" + _where(value.get("where"))
    if kind == "schedule":
        return f"every {value['every']}"
    if kind == "no_conversion":
        return f"no conversion after {value['automation']}"
    return kind


def _where(where: dict[str, Any] | None) -> str:
    if not where:
        return ""
    return " where " + ", ".join(f"{k} = {_value(v)}" for k, v in where.items())


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def condition_text(condition: dict[str, Any]) -> str:
    """A branch condition in plain words: :func:`clm.automation.conditions.describe` (the
    wording of ``clm why``) with plain values (``true``, ``[A, B]``) instead of Python's."""
    return describe(condition, _value)


def step_text(step: dict[str, Any]) -> str:
    """One step in plain words: what it sends, how long it waits, what it asks."""
    kind = step["type"]
    if kind == "send":
        if step.get("variants"):
            names = ", ".join(str(v["name"]) for v in step["variants"])
            return f"send {step['channel']}: {len(step['variants'])} variants ({names})"
        return f"send {step['channel']}" + _headline(step.get("template"))
    if kind == "wait":
        if step.get("until_event"):
            event = step["until_event"]
            until = f"{event['type']}{_where(event.get('where'))}"
            return f"wait for {until}, at most {step['timeout']}"
        return f"wait {step['duration']}"
    if kind == "branch":
        return "if " + condition_text(step["condition"])
    return "exit"


def _headline(template: Any) -> str:
    if not isinstance(template, dict):
        return f": {template}" if template else ""
    for key in ("subject", "title", "placement", "text", "body"):
        if isinstance(template.get(key), str):
            text = " ".join(template[key].split())
            return f": “{text[:48]}{'…' if len(text) > 48 else ''}”"
    return ""


def links(steps: list[dict[str, Any]]) -> list[Link]:
    """Every link of a flat step list, in step order."""
    ids = [str(s["id"]) for s in steps]
    found = []
    for i, step in enumerate(steps):
        following = ids[i + 1] if i + 1 < len(ids) else END
        nxt = str(step.get("next") or following)
        if step["type"] == "branch":
            found += [Link(ids[i], str(step["then"]), "yes"), Link(ids[i], str(step["else"]), "no")]
        elif step["type"] == "wait" and step.get("until_event"):
            timeout = str(step.get("on_timeout") or following)
            found += [Link(ids[i], nxt, "event"), Link(ids[i], timeout, "timeout")]
        elif step["type"] in ("send", "wait"):
            found.append(Link(ids[i], nxt))
    return found


def flow(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The steps in words with their outgoing links, and the SVG geometry of the flow."""
    steps = [dict(s) for s in spec["steps"]]
    edges = links(steps)
    rows = ["trigger", *(str(s["id"]) for s in steps)]
    if any(e.target == END for e in edges):
        rows.append(END)
    row = {node: i for i, node in enumerate(rows)}
    boxes = [_box("trigger", "trigger", trigger_text(spec["trigger"]), 0)]
    boxes += [_box(str(s["id"]), s["type"], step_text(s), i + 1) for i, s in enumerate(steps)]
    if END in row:
        boxes.append(_box(END, END, "the enrolment ends", row[END]))
    drawn = [Link("trigger", rows[1]), *edges]
    paths = [_straight(e, row[e.source]) for e in drawn if row[e.target] == row[e.source] + 1]
    around = [e for e in drawn if row[e.target] != row[e.source] + 1]
    # the shortest detours nearest the boxes: a longer one never crosses a shorter one's ends
    around.sort(key=lambda e: (abs(row[e.target] - row[e.source]), row[e.source]))
    paths += [
        _around(e, row[e.source], row[e.target], lane) for lane, e in enumerate(around, start=1)
    ]
    lanes = len(around)
    outgoing = {s: [e for e in edges if e.source == s] for s in rows}
    return {
        "id": "flow-" + "".join(c if c.isalnum() else "-" for c in name),
        "steps": [
            {
                "id": str(s["id"]),
                "type": s["type"],
                "text": step_text(s),
                "links": outgoing[str(s["id"])],
            }
            for s in steps
        ],
        "trigger": trigger_text(spec["trigger"]),
        "boxes": boxes,
        "paths": paths,
        "width": LEFT + BOX_W + LANE * (lanes + 1) + 30,
        "height": TOP + PITCH * (len(rows) - 1) + BOX_H + TOP,
    }


def _box(node: str, kind: str, text: str, i: int) -> dict[str, Any]:
    shown = text if len(text) <= BOX_CHARS else text[: BOX_CHARS - 1] + "…"
    return {
        "id": node,
        "kind": kind,
        "x": LEFT,
        "y": TOP + PITCH * i,
        "w": BOX_W,
        "h": BOX_H,
        "label": node if kind not in ("trigger", END) else kind,
        "text": shown,
        "title": text,
        "colour": COLOURS[kind],
    }


def _straight(edge: Link, a: int) -> dict[str, Any]:
    x = LEFT + BOX_W // 2
    y0, y1 = TOP + PITCH * a + BOX_H, TOP + PITCH * (a + 1)
    return {
        "d": f"M{x},{y0} V{y1 - 2}",
        "label": edge.label,
        "lx": x + 6,
        "ly": (y0 + y1) // 2 + 4,
        "anchor": "start",
    }


def _around(edge: Link, a: int, b: int, lane: int) -> dict[str, Any]:
    right = LEFT + BOX_W
    out = right + LANE * lane
    y0 = TOP + PITCH * a + BOX_H // 2 + (6 if b > a else -6)
    y1 = TOP + PITCH * b + BOX_H // 2 + (-6 if b > a else 6)
    return {
        "d": f"M{right},{y0} H{out} V{y1} H{right + 2}",
        "label": edge.label,
        "lx": right + 4,
        "ly": y0 - 4,
        "anchor": "start",
    }
