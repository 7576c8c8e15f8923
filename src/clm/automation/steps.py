"""The engine's decisions as pure functions: advance through the steps (enrolling is set-based:
:mod:`clm.automation.enrol`).

Inputs are a definition, a customer's facts, the time and what the guards need (a count
of recent sends, a template renderer); outputs are the new enrolment state, the decisions
to log and the messages to enqueue. Nothing here touches the database, so the same code
serves the batch runner and a live event handler.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clm.automation import conditions, guards, render_context, templates
from clm.automation.decisions import Decision, make
from clm.automation.definitions import Automation
from clm.automation.durations import parse_duration
from clm.automation.enrolments import Enrolment
from clm.automation.ids import message_id
from clm.automation.outbox import OutgoingMessage
from clm.config import AutomationSection
from clm.errors import ClmError
from clm.experiments import assignment

MAX_STEPS = 100  # steps taken at one instant; a loop of branches without a wait stops here

Facts = Mapping[str, Any]
SentCount = Callable[[str, str, datetime], int]


@dataclass(frozen=True)
class Policy:
    """The settings the guards and the assignment read (``automation.*``)."""

    global_share: float = 0.05
    global_key: str = "global-control"
    holdout: float = 0.1
    caps: Mapping[str, int] = field(default_factory=dict)
    period: timedelta = timedelta(days=7)
    quiet: guards.QuietHours | None = None
    quiet_channels: frozenset[str] = frozenset()
    default_timezone: str = "UTC"

    @staticmethod
    def from_settings(section: AutomationSection) -> Policy:
        return Policy(
            global_share=section.global_control_share,
            global_key=section.global_control_key,
            holdout=section.holdout_share,
            caps=dict(section.frequency_caps),
            period=timedelta(days=section.frequency_period_days),
            quiet=guards.QuietHours.parse(section.quiet_hours),
            quiet_channels=frozenset(section.quiet_channels),
            default_timezone=section.default_timezone,
        )


@dataclass(frozen=True)
class Outcome:
    """What one decision step produced."""

    enrolment: Enrolment | None
    decisions: list[Decision]
    messages: list[OutgoingMessage] = field(default_factory=list)


# -- steps -----------------------------------------------------------------------------------


@dataclass
class Env:
    """What advancing needs besides the definition and the facts.

    ``moves`` keeps the quiet-hours move of each (time, time zone) seen: a slice's sends
    fall on few distinct times, and a zone conversion costs more than the rest of a
    guard."""

    policy: Policy
    sent_count: SentCount
    moves: dict[tuple[datetime, object], tuple[str, datetime]] = field(default_factory=dict)

    def quiet_move(self, t: datetime, timezone: object) -> tuple[str, datetime]:
        """The customer's zone (its name) and ``t`` moved out of the quiet hours there
        (:func:`guards.next_allowed`; ``timezone`` is the profile's, maybe empty)."""
        key = (t, timezone)
        found = self.moves.get(key)
        if found is None:
            tz = guards.zone(timezone, self.policy.default_timezone)
            found = (tz.key, guards.next_allowed(t, self.policy.quiet, tz))
            self.moves[key] = found
        return found


def advance(automation: Automation, e: Enrolment, facts: Facts, env: Env) -> Outcome:
    """Take every step due at ``e.due_at`` until a wait or the end."""
    assert e.due_at is not None
    t = e.due_at
    decisions: list[Decision] = []
    messages: list[OutgoingMessage] = []
    pending: dict[str, int] = {}
    for _ in range(MAX_STEPS):
        if e.state != "active" or e.due_at is None or e.due_at > t:
            break
        if e.step_id is None:  # a wait was the last step
            e = _finish(e, t, "completed", decisions)
            break
        step = automation.step(e.step_id)
        kind = step["type"]
        if kind == "send":
            found, message = _send(automation, e, step, t, facts, env, pending)
            decisions += found
            if message is not None:
                messages.append(message)
                pending[message.channel] = pending.get(message.channel, 0) + 1
            e = _goto(automation, e, automation.next_step(e.step_id), t, decisions)
        elif kind == "wait":
            e = _wait(automation, e, step, t, decisions)
        elif kind == "branch":
            reason = conditions.failure(step["condition"], facts)
            target = step["then"] if reason is None else step["else"]
            words = conditions.describe(step["condition"])
            decisions.append(
                decision(
                    e,
                    t,
                    "branched",
                    step_id=e.step_id,
                    reason=target,
                    detail=(f"{words}: yes" if reason is None else f"{reason}: no"),
                )
            )
            e = _goto(automation, e, target, t, decisions)
        else:
            e = _finish(e, t, "exit", decisions)
    else:
        e = _finish(e, t, "loop", decisions)
    return Outcome(e, decisions, messages)


def after_wait(automation: Automation, e: Enrolment, event_at: datetime | None) -> Enrolment:
    """A waiting enrolment moves on: to the next step at the event's time, or (on timeout)
    to ``on_timeout`` (default: the next step) at the timeout."""
    assert e.step_id is not None and e.due_at is not None
    step = automation.step(e.step_id)
    if event_at is not None:
        target, at = automation.next_step(e.step_id), event_at
    else:
        target, at = step.get("on_timeout") or automation.next_step(e.step_id), e.due_at
    if target is None:
        return e.moved(state="active", step_id=None, due_at=at, wait_since=None)
    return e.moved(state="active", step_id=target, due_at=at, wait_since=None)


def _goto(
    automation: Automation,
    e: Enrolment,
    target: str | None,
    t: datetime,
    decisions: list[Decision],
) -> Enrolment:
    if target is None:
        return _finish(e, t, "completed", decisions)
    del automation
    return e.moved(step_id=target, due_at=t)


def _wait(
    automation: Automation,
    e: Enrolment,
    step: dict[str, Any],
    t: datetime,
    decisions: list[Decision],
) -> Enrolment:
    del decisions
    if "duration" in step:
        target = automation.next_step(str(step["id"]))
        due = t + parse_duration(step["duration"])
        if target is None:
            return e.moved(step_id=None, due_at=due, state="active")
        return e.moved(step_id=target, due_at=due)
    return e.moved(state="waiting", wait_since=t, due_at=t + parse_duration(step["timeout"]))


def _finish(e: Enrolment, t: datetime, how: str, decisions: list[Decision]) -> Enrolment:
    """Steps are over: the goal window may still be open (completed), else the end."""
    words = {
        "exit": "reached an exit step",
        "completed": "finished its steps",
        "loop": f"stopped after {MAX_STEPS} steps at one instant (a loop without a wait)",
    }
    if e.goal_until is not None and e.goal_until > t:
        decisions.append(
            decision(
                e,
                t,
                "completed",
                reason=how,
                detail=f"{words[how]}; the goal window stays open until {e.goal_until:%Y-%m-%d}",
            )
        )
        return e.moved(state="completed", step_id=None, due_at=None)
    decisions.append(decision(e, t, "ended", reason=how, detail=words[how]))
    return e.moved(state="ended", step_id=None, due_at=None, ended_at=t)


def convert(e: Enrolment, at: datetime) -> tuple[Enrolment, Decision]:
    """The goal event at ``at`` ends the enrolment as converted."""
    e = e.moved(state="converted", converted_at=at, ended_at=at, step_id=None, due_at=None)
    return e, decision(e, at, "converted", detail="goal event in the window")


def close_window(e: Enrolment, b: datetime) -> tuple[Enrolment, Decision]:
    """The goal window passed without a conversion (by ``b``): the enrolment ends."""
    closed = e.goal_until or b
    e = e.moved(state="ended", ended_at=closed)
    return e, decision(
        e,
        closed,
        "ended",
        reason="no_conversion",
        detail="the goal window closed without a conversion",
    )


def decision(e: Enrolment, t: datetime, kind: str, **fields: Any) -> Decision:
    """A decision about an enrolment at ``t``."""
    return make(
        t, e.automation, e.version, e.customer_id, kind, enrolment_id=e.enrolment_id, **fields
    )


@dataclass(frozen=True)
class SendPlan:
    """What a send step (in one variant) is the same for every message: worked out once
    per automation version, step and variant (:func:`send_plan`)."""

    channel: str
    step_id: str
    variant: str | None
    template: templates.Compiled
    names: frozenset[str] | None  # what the template reads (None: it does not parse)
    cost: float
    # contents rendered per context (see :meth:`render`); None: each message is rendered
    rendered: dict[tuple[tuple[str, type, Any], ...], dict[str, Any]] | None = field(
        default=None, compare=False
    )

    def render(self, context: dict[str, Any]) -> dict[str, Any]:
        """The content for ``context`` (a new dict each time): rendered once per
        distinct context when the plan keeps them (many messages of a step see the
        same few values: a first name, the offer, a category)."""
        kept = self.rendered
        if kept is None:
            return self.template.render(context)
        # the type is part of the key: 1, 1.0 and True are equal keys but render apart
        # (and 0.0, -0.0: a float is keyed by its repr)
        key = tuple(
            (k, v.__class__, repr(v) if isinstance(v, float) else v) for k, v in context.items()
        )
        try:
            found = kept.get(key)
        except TypeError:  # a value that is not hashable (a dict of attributes)
            return self.template.render(context)
        if found is None:
            found = self.template.render(context)
            if len(kept) < RENDERED_KEPT:
                kept[key] = found
        return copy.deepcopy(found) if self.nested else dict(found)

    @property
    def nested(self) -> bool:
        """Whether the content holds JSON objects (banner content, webhook body)."""
        return any(f.json for f in self.template.fields)


RENDERED_KEPT = 4096  # distinct contexts kept per plan
# what makes a render depend on more than its context (Jinja's random filter, lipsum), or
# a context that never repeats (each message its own id): such plans render every message
UNCACHED_NAMES = frozenset({"message_id", "customer_id", "email", "phone"})
UNCACHED_WORDS = ("random", "lipsum", "cycler", "joiner", "namespace")


_PLANS: dict[tuple[str, str, str | None], SendPlan] = {}


def send_plan(automation: Automation, step: Mapping[str, Any], variant: str | None) -> SendPlan:
    """The plan of a send step in ``variant``: its channel, its template checked and
    compiled, the names it reads and the message cost; kept per version content."""
    sid = str(step["id"])
    key = (automation.content_hash, sid, variant)
    plan = _PLANS.get(key)
    if plan is None:
        channel = str(step["channel"])
        if variant is None:
            template = dict(step["template"])
        else:
            template = dict(next(v for v in step["variants"] if v["name"] == variant)["template"])
        names = render_context.template_names(automation, sid, variant, template)
        plan = SendPlan(
            channel,
            sid,
            variant,
            templates.compile_template(channel, template),
            names,
            automation.message_costs.get(channel, 0.0),
            {} if _repeats(names, template) else None,
        )
        _PLANS[key] = plan
    return plan


def _repeats(names: frozenset[str] | None, template: Mapping[str, Any]) -> bool:
    """Whether a template's renders may be kept per context: it parses, reads no name
    that differs per customer or message, and uses nothing random."""
    if names is None or names & UNCACHED_NAMES:
        return False
    source = json.dumps(dict(template), sort_keys=True)
    return not any(word in source for word in UNCACHED_WORDS)


def _send(
    automation: Automation,
    e: Enrolment,
    step: dict[str, Any],
    t: datetime,
    facts: Facts,
    env: Env,
    pending: dict[str, int],
) -> tuple[list[Decision], OutgoingMessage | None]:
    channel, sid = str(step["channel"]), str(step["id"])
    policy = env.policy
    block = guards.consent_block(channel, facts) or guards.address_block(channel, facts)
    if block is not None:
        return [
            decision(
                e,
                t,
                "skipped",
                step_id=sid,
                reason=block.reason,
                channel=channel,
                detail=block.detail,
            )
        ], None
    out: list[Decision] = []
    send_at = t
    if channel in policy.quiet_channels:
        tz, send_at = env.quiet_move(t, facts.get("timezone"))
        if send_at != t:
            out.append(
                decision(
                    e,
                    t,
                    "moved",
                    step_id=sid,
                    reason="quiet_hours",
                    channel=channel,
                    not_before=send_at,
                    detail=f"quiet hours in {tz}: moved to {send_at:%Y-%m-%d %H:%M}",
                )
            )
    cap = policy.caps.get(channel)
    count = env.sent_count(e.customer_id, channel, send_at) + pending.get(channel, 0)
    blocked = guards.cap_block(count, cap, channel, policy.period.days)
    if blocked is not None:
        out.append(
            decision(
                e, t, "skipped", step_id=sid, reason="cap", channel=channel, detail=blocked.detail
            )
        )
        return out, None
    plan = send_plan(automation, step, step_variant(automation, step, e.customer_id))
    variant = plan.variant
    mid = message_id(automation.name, e.enrolment_id, sid)
    try:
        content = plan.render(render_context.context(facts, automation, variant, mid, plan.names))
    except ClmError as exc:
        out.append(
            decision(
                e, t, "skipped", step_id=sid, reason="template", channel=channel, detail=str(exc)
            )
        )
        return out, None
    _address(channel, content, facts)
    cost = plan.cost
    message = OutgoingMessage(
        mid,
        automation.name,
        automation.version,
        e.enrolment_id,
        sid,
        e.customer_id,
        channel,
        variant,
        content,
        send_at,
        cost,
    )
    out.append(
        decision(
            e,
            t,
            "sent",
            step_id=sid,
            channel=channel,
            message_id=mid,
            variant=variant,
            cost=cost,
            not_before=send_at,
            detail=f"{channel} message" + (f", variant {variant}" if variant else ""),
        )
    )
    return out, message


def step_variant(automation: Automation, step: Mapping[str, Any], customer_id: str) -> str | None:
    """The customer's variant of a send step (None: the step has no variants)."""
    variants = step.get("variants")
    if not variants:
        return None
    weights = [(str(v["name"]), float(v.get("weight", 1.0))) for v in variants]
    return assignment.variant(f"{automation.experiment_key}|{step['id']}", customer_id, weights)


def _address(channel: str, content: dict[str, Any], facts: Facts) -> None:
    if channel == "email":
        content.setdefault("to", facts.get("email"))
    elif channel == "sms":
        content.setdefault("to", facts.get("phone"))
    elif channel == "push":
        content.setdefault("to", facts.get("attributes.push_token") or facts.get("customer_id"))
