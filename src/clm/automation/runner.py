"""The batch runner: process everything due in ``(clock, until]`` (``clm run``).

Time is cut into slices (``automation.slice_hours``, one day by default); in each slice
the runner

1. finds trigger occurrences and enrols (re-entry, audience, contactability, then the arm:
   global control, holdout, treatment), one transaction per automation;
2. advances every enrolment whose step is due, in time order and, at one instant, by
   automation priority (the frequency cap lets the more important message through first):
   a goal event before the step's time ends the enrolment as converted instead; sends pass
   the guards, are rendered and enqueued with their decisions in one transaction per batch;
3. records conversions in goal windows and ends enrolments whose window passed; then
   enrols hand-offs (``no_conversion``) of enrolments that ended in this slice.

The clock (``automation_clock``) moves to ``until`` at the end, and due messages are
delivered. Everything is keyed by deterministic ids, so a second run (or a run after a
crash) enqueues nothing twice. A dry run (``since``) does the same from a blank state
inside one transaction that is rolled back: it reports what would have been sent and
writes nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from clm.automation import (
    checkpoints,
    collector,
    goals,
    kept_units,
    outbox,
    steps,
    triggers,
    versions,
)
from clm.automation import enrolments as store
from clm.automation.decisions import Decision, record
from clm.automation.definitions import Automation
from clm.automation.enrol import Batch, enrol
from clm.automation.enrolments import Enrolment
from clm.automation.facts import FactsCache
from clm.automation.outbox import OutgoingMessage
from clm.automation.sendlog import SendLog
from clm.config import Settings
from clm.errors import AutomationError
from clm.profiles import clustered
from clm.store.database import transaction

CLOCK = "batch"
BATCH = 5000  # enrolments advanced per transaction (a commit costs ~10-40 ms on disk)
MAX_ROUNDS = 1000
NOISY = ("audience", "re_entry")
RUN_TRIGGERS = (
    "score_crossing",
    "segment_entered",
)  # skips not logged for schedule triggers (every tick)


RunError = AutomationError  # a window that goes backwards, ``--since`` on a running clock


@dataclass
class RunStats:
    """What a run did (or, dry, would have done)."""

    start: datetime
    end: datetime
    dry_run: bool
    versions: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    messages: list[dict[str, Any]] = field(default_factory=list)  # dry runs: each message
    delivered: dict[str, Any] | None = None
    n_messages: int = 0
    total_cost: float = 0.0

    def count(self, decision: Decision) -> None:
        key = decision.kind
        if decision.kind in ("enrolled", "skipped", "ended"):
            key = f"{decision.kind}:{decision.reason}"
        self.counts[decision.automation][key] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "dry_run": self.dry_run,
            "new_versions": [{"automation": a, "version": v} for a, v in self.versions],
            "problems": self.problems,
            "automations": {a: dict(sorted(c.items())) for a, c in sorted(self.counts.items())},
            "messages": self.n_messages,
            "cost": round(self.total_cost, 4),
            "would_send": self.messages,
            "delivered": self.delivered,
        }


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def clock(con: duckdb.DuckDBPyConnection) -> datetime | None:
    rows = con.execute(
        "SELECT processed_until FROM automation_clock WHERE clock = ?", [CLOCK]
    ).fetchall()
    return rows[0][0] if rows else None


def run(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    settings: Settings,
    *,
    until: datetime | None = None,
    since: datetime | None = None,
    dry_run: bool = False,
    channels: Mapping[str, Any] | None = None,
) -> RunStats:
    """Process everything due up to ``until`` (default: now, UTC).

    The window starts at the clock (the previous run's ``until``); the first run starts
    at ``since`` or one day before ``until``. With ``dry_run`` the window is
    ``(since, until]`` on a blank automation state and nothing is written.
    """
    end = until or utcnow()
    if dry_run:
        if since is None:
            raise RunError("a dry run needs --since DATE: the start of the backtest")
        return _dry(con, root, settings, since, end)
    current = clock(con)
    if current is not None and since is not None:
        raise RunError(
            f"--since only starts the first run (or a --dry-run); the clock is at {current}"
        )
    start = current or since or end - timedelta(days=1)
    if end < start:
        raise RunError(f"--until {end} is before the clock ({start}): time does not go back")
    engine = Engine(con, root, settings, dry_run=False)
    stats = engine.process(start, end)
    with transaction(con):
        con.execute(
            "INSERT OR REPLACE INTO automation_clock VALUES (?, ?, ?)", [CLOCK, end, utcnow()]
        )
    delivered = outbox.deliver_configured(con, channels or {}, end, settings.channels)
    stats.delivered = _plain(delivered)
    kept_units.refresh(con)  # the reports' kept parts follow each run (a small step)
    clustered.advance(con)  # and the events clustered by profile (the run's outcomes)
    return stats


def run_due(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    settings: Settings,
    now: datetime,
    channels: Mapping[str, Any] | None = None,
) -> RunStats:
    """One scheduler tick for ``clm serve``: process ``(clock, now]`` and deliver."""
    return run(con, root, settings, until=now, channels=channels)


def _dry(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    settings: Settings,
    since: datetime,
    end: datetime,
) -> RunStats:
    if end < since:
        raise RunError(f"--since {since} is after --until {end}")
    con.execute("BEGIN TRANSACTION")
    try:
        for table in (
            "enrolments",
            "decisions",
            "crossing_states",
            "crossing_runs",
            "automation_clock",
        ):
            con.execute(f"DELETE FROM {table}")
        return Engine(con, root, settings, dry_run=True).process(since, end)
    finally:
        con.execute("ROLLBACK")


def _plain(value: Any) -> dict[str, Any]:
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return dict(value) if isinstance(value, Mapping) else {"result": str(value)}


class Engine:
    """One run's working state: definitions, facts, the send log, the statistics."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, root: Path, settings: Settings, *, dry_run: bool
    ) -> None:
        self.con = con
        self.root = root
        self.settings = settings
        self.dry = dry_run
        self.policy = steps.Policy.from_settings(settings.automation)
        self.facts = FactsCache(con)
        self.sends = SendLog(con, self.policy.period)
        self.env = steps.Env(self.policy, self.sends.count)
        self.definitions: dict[tuple[str, int], Automation] = {}
        self.current: list[Automation] = []
        self.paused: set[str] = set()
        self.why: dict[str, str] = {}
        self.recorded: list[Decision] = []
        self.keep = False  # keep the decisions made (the live path returns them)
        self.stats = RunStats(datetime.min, datetime.min, dry_run)

    def tx(self) -> AbstractContextManager[None]:
        return nullcontext() if self.dry else transaction(self.con)

    # -- the run --------------------------------------------------------------------------

    def load(self, now: datetime) -> None:
        """Store new versions and read the current ones with their status."""
        with self.tx():
            loaded = versions.sync(self.con, self.root, now)
        self.stats.versions = loaded.created
        self.stats.problems = [str(p) for p in loaded.problems]
        self.use(loaded.automations)

    def use(self, automations: Sequence[Automation]) -> None:
        """Work with these current versions (their paused status read now)."""
        self.current = sorted(automations, key=lambda a: (-a.priority, a.name))
        for automation in self.current:
            self.definitions[(automation.name, automation.version)] = automation
        self.paused = versions.paused(self.con, self.current)

    def process(self, start: datetime, end: datetime) -> RunStats:
        """Every slice of ``(start, end]``: enrol, advance, goals. The enrolments and
        the goals, like the steps (:meth:`advance`), decide with the cyclic garbage
        collector paused and commit with DuckDB's automatic checkpoints deferred (see
        :mod:`clm.automation.collector` and :mod:`clm.automation.checkpoints`)."""
        self.stats.start, self.stats.end = start, end
        self.load(start if self.dry else utcnow())
        size = timedelta(hours=self.settings.automation.slice_hours)
        deferred = checkpoints.deferred(self.con, then_checkpoint=not self.dry)
        with collector.paused(), deferred:
            for a, b in slices(start, end, size):
                self.slice(a, b)
        return self.stats

    def slice(self, a: datetime, b: datetime) -> None:
        active = [x for x in self.current if x.name not in self.paused]
        first = [x for x in active if x.trigger_kind != "no_conversion"]
        handoff = [x for x in active if x.trigger_kind == "no_conversion"]
        for automation in first:
            self.enrol(automation, a, b)
        self.advance(b)
        self.goals(b)
        for _ in range(len(handoff)):
            if not sum(self.enrol(x, a, b) for x in handoff):
                break
            self.advance(b)
            self.goals(b)

    # -- enrolment ----------------------------------------------------------------------------

    def enrol(self, automation: Automation, a: datetime, b: datetime) -> int:
        if automation.trigger_kind not in RUN_TRIGGERS:  # a read: no transaction yet
            found = triggers.find_table(self.con, automation, a, b, self.facts.all_runs)
            if not found.num_rows:
                return 0
            with self.tx():
                return self._enrol(automation, found).enrolled
        with self.tx():  # triggers on scoring runs store what they saw with the enrolments
            found = triggers.find_table(self.con, automation, a, b, self.facts.all_runs)
            return self._enrol(automation, found).enrolled

    def enrol_found(
        self, automation: Automation, found: Sequence[triggers.Occurrence]
    ) -> list[Enrolment]:
        """Decide and store the enrolments of occurrences not seen before (the live path:
        the enrolments made, and the decisions kept with ``keep``)."""
        return self._enrol(automation, triggers.table(found), objects=True).enrolments

    def _enrol(self, automation: Automation, found: Any, *, objects: bool = False) -> Batch:
        """:func:`clm.automation.enrol.enrol` with this run's policy, counts and details."""
        batch = enrol(
            self.con,
            automation,
            found,
            self.policy,
            self.facts.all_runs,
            utcnow(),
            facts_at=self._facts_at,
            quiet=frozenset(NOISY) if automation.trigger_kind == "schedule" else frozenset(),
            objects=objects or self.keep,
        )
        self.stats.counts[automation.name].update(batch.counts)
        self.why.update(batch.why)
        if self.keep:
            self.recorded += batch.decisions
        return batch

    def _record(self, decisions: list[Decision]) -> None:
        record(self.con, decisions, utcnow())
        if self.keep:
            self.recorded += decisions

    def _facts_at(self, wanted: Sequence[tuple[str, datetime]]) -> dict[tuple[str, datetime], Any]:
        return self.facts.at(wanted)

    # -- steps ------------------------------------------------------------------------------

    def definition(self, name: str, version: int) -> Automation:
        key = (name, version)
        if key not in self.definitions:
            self.definitions[key] = versions.version(self.con, name, version)
        return self.definitions[key]

    def advance(self, b: datetime) -> None:
        """Take every step due by ``b``, in rounds until none is due. A round reads the
        facts and the queued sends of all its enrolments at once (one scan each, not one
        per chunk) and decides with the cyclic garbage collector paused
        (:mod:`clm.automation.collector`); its batches commit with DuckDB's automatic
        checkpoints deferred (:mod:`clm.automation.checkpoints`)."""
        for _ in range(MAX_ROUNDS):
            due = self._due(b)
            if not due:
                return
            conversions = self._conversions(due, b)
            self.facts.prefetch([(e.customer_id, _due(e)) for e in due])
            self.sends.preload([e.customer_id for e in due])
            with collector.paused(), checkpoints.deferred(self.con):
                for chunk in _chunks(due, BATCH):
                    self._advance_chunk(chunk, conversions)

    def advance_these(self, due: Sequence[Enrolment]) -> None:
        """Take the due steps of these enrolments (the live path)."""
        at = max(_due(e) for e in due)
        self._advance_chunk(due, self._conversions(due, at))

    def _due(self, b: datetime) -> list[Enrolment]:
        rows = store.due(self.con, b, sorted(self.paused))
        waiting = [e for e in rows if e.state == "waiting"]
        events = goals.wait_events(self.con, waiting, self.definition, b)
        ready: list[Enrolment] = []
        for e in rows:
            if e.state == "waiting":
                assert e.due_at is not None
                hit = events.get(e.enrolment_id)
                if hit is None and e.due_at > b:
                    continue
                e = steps.after_wait(self.definition(e.automation, e.version), e, hit)
            ready.append(e)
        priority = {a.name: a.priority for a in self.current}
        return sorted(
            ready, key=lambda e: (e.due_at, -priority.get(e.automation, 0), e.enrolment_id)
        )

    def _advance_chunk(self, chunk: Sequence[Enrolment], conversions: dict[str, datetime]) -> None:
        with self.tx():
            facts = self._facts_at([(e.customer_id, _due(e)) for e in chunk])
            self.sends.preload([e.customer_id for e in chunk])
            updated: list[Enrolment] = []
            decisions: list[Decision] = []
            messages: list[OutgoingMessage] = []
            for e in chunk:
                assert e.due_at is not None
                converted = conversions.get(e.enrolment_id)
                if converted is not None and converted <= e.due_at:
                    e, d = steps.convert(e, converted)
                    updated.append(e)
                    decisions.append(d)
                    continue
                automation = self.definition(e.automation, e.version)
                out = steps.advance(automation, e, facts[(e.customer_id, _due(e))], self.env)
                assert out.enrolment is not None
                updated.append(out.enrolment)
                decisions += out.decisions
                messages += out.messages
                for m in out.messages:
                    self.sends.add(m.customer_id, m.channel, m.not_before)
            for d in decisions:
                self.stats.count(d)
            store.update(self.con, updated)
            self._record(decisions)
            self._enqueue(messages)

    def _enqueue(self, messages: list[OutgoingMessage]) -> None:
        self.stats.n_messages += len(messages)
        self.stats.total_cost += sum(m.cost for m in messages)
        if not self.dry:
            if messages:
                outbox.enqueue(self.con, messages)
            return
        for m in messages:
            self.stats.messages.append(
                {
                    "automation": m.automation,
                    "customer_id": m.customer_id,
                    "channel": m.channel,
                    "variant": m.variant,
                    "not_before": m.not_before.isoformat(),
                    "cost": m.cost,
                    "why": self.why.get(m.enrolment_id, ""),
                    "message_id": m.message_id,
                }
            )

    # -- goals --------------------------------------------------------------------------------

    def _conversions(self, due: Sequence[Enrolment], b: datetime) -> dict[str, datetime]:
        out: dict[str, datetime] = {}
        for name, version in sorted({(e.automation, e.version) for e in due}):
            out |= goals.conversions(self.con, self.definition(name, version), b, among=due)
        return out

    def goals(self, b: datetime) -> None:
        """Conversions and closed windows of every open enrolment: one statement finds the
        conversions of all automation versions, one reads the enrolments to change."""
        pairs = goals.with_goal_windows(self.con)
        found = goals.open_conversions(
            self.con, [(self.definition(name, version), since) for name, version, since in pairs], b
        )
        open_ = store.select(
            self.con,
            "state IN ('active', 'waiting', 'completed') AND ("
            "enrolment_id IN (SELECT unnest(?::VARCHAR[])) "
            "OR (state = 'completed' AND goal_until <= ?)) ORDER BY automation, version",
            [list(found), b],
        )
        if not open_:
            return
        with self.tx():
            updated: list[Enrolment] = []
            decisions: list[Decision] = []
            for e in open_:
                if e.enrolment_id in found:
                    e, d = steps.convert(e, found[e.enrolment_id])
                else:
                    e, d = steps.close_window(e, b)
                updated.append(e)
                decisions.append(d)
                self.stats.count(d)
            store.update(self.con, updated)
            self._record(decisions)


def _due(e: Enrolment) -> datetime:
    assert e.due_at is not None
    return e.due_at


def slices(start: datetime, end: datetime, size: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """``(start, end]`` cut into consecutive windows of at most ``size``."""
    a = start
    while a < end:
        b = min(a + size, end)
        yield a, b
        a = b


def _chunks(items: Sequence[Enrolment], size: int) -> Iterator[Sequence[Enrolment]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
