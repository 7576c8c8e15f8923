"""Automations (definitions, runs, decisions) and their reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clm.errors import AutomationError, NotFound
from clm.facade.base import DEFINITIONS, WorkspaceBase


class Automations(WorkspaceBase):
    """Automation and report methods of the facade."""

    def automations_validate(self) -> list[dict[str, Any]]:
        """Check every automation file; raise DefinitionError naming file and line of each
        problem, else describe the valid automations."""
        from clm.automation import definitions

        return [_describe(a) for a in definitions.validate(self.root)]

    def automations_schema(self) -> dict[str, Any]:
        """The published JSON Schema of an automation file."""
        from clm.automation import definitions

        return definitions.schema()

    def automations(self) -> dict[str, Any]:
        """Every automation: status, current version, counts; and the files with problems."""
        from clm.automation import listing

        return listing.overview(self.con, self.root)

    def automation_definitions(self) -> dict[str, dict[str, Any]]:
        """The definition of every automation by name: its valid file, else (a file that
        stopped validating or was removed) the latest stored version, which stays in use."""
        from clm.automation import definitions, versions

        valid, _ = definitions.load(self.root)
        found = {a.name: a.spec for a in valid}
        stored = self.con.execute("SELECT DISTINCT automation FROM automation_versions").fetchall()
        for (name,) in stored:
            if name not in found:
                latest = versions.latest_version(self.con, str(name))
                if latest is not None:
                    found[latest.name] = latest.spec
        return found

    def customer_enrolments(self, customer_id: str) -> list[dict[str, Any]]:
        """A customer's enrolments, newest first, with arm, variant and state."""
        from clm.automation import listing

        return listing.customer_enrolments(self.con, customer_id)

    def automation_pause(self, name: str) -> None:
        """Pause an automation: no new enrolments, no steps, until resumed."""
        from clm.automation import listing

        listing.set_status(self.con, self.root, name, "paused")

    def automation_resume(self, name: str) -> None:
        """Resume a paused automation; steps that fell due meanwhile go on at the next run."""
        from clm.automation import listing

        listing.set_status(self.con, self.root, name, "active")

    def run(
        self,
        until: datetime | str | None = None,
        *,
        since: datetime | str | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Process every automation up to ``until`` (default now, UTC; a later time
        simulates ahead), enqueue and deliver messages. ``dry_run`` with ``since``
        backtests from a blank state and writes nothing. Returns RunStats."""
        from clm.automation import runner
        from clm.automation.channels import opened

        with opened(self.settings.channels, self.root) as channels:
            return runner.run(
                self.con,
                self.root,
                self.settings,
                until=_instant(until, "--until"),
                since=_instant(since, "--since"),
                dry_run=dry_run,
                channels=channels,
            )

    def why(
        self, customer_id: str, automation: str | None = None, events: str = "events"
    ) -> list[dict[str, Any]]:
        """Every automation decision about a customer, oldest first, with a sentence each
        (the outcome events from ``events``: a name from ``customer_events``, else the
        table)."""
        from clm.automation.why import why

        return why(self.con, customer_id, automation, events)

    def _measurements(self) -> dict[str, Any]:
        from clm.experiments.measurement import load_measurements

        folder = self.root / DEFINITIONS / "automations"
        return load_measurements(folder, self.settings.clv.margin)

    def report_automation(self, name: str) -> dict[str, Any]:
        """Funnel per arm and variant, effects against control, campaign worth, the
        sample-ratio check and the cumulative daily series of automation ``name``."""
        from clm.automation.kept_units import units_query
        from clm.experiments import report as experiment_report
        from clm.experiments.measurement import Measurement

        default = Measurement(self.settings.clv.margin)
        settings = self._measurements().get(name, default)
        sql, params = units_query(self.con, name, ordered=False)
        report = experiment_report.automation_report(self.con, sql, params, name, settings)
        if not report["arms"]:
            raise NotFound(f"automation {name!r} has no enrolments yet (or does not exist)")
        return report

    def report_automations(self) -> dict[str, Any]:
        """Every automation ranked by incremental profit, and the programme's worth against
        the global control group."""
        from clm.automation.kept_units import units_query
        from clm.experiments import report as experiment_report
        from clm.experiments.measurement import Measurement

        sql, params = units_query(self.con, None, ordered=False)
        default = Measurement(self.settings.clv.margin)
        return experiment_report.automations_report(
            self.con, sql, params, self._measurements(), default
        )

    def automation_reports(self) -> dict[str, Any]:
        """:meth:`report_automations` and, under ``reports``, :meth:`report_automation` of
        every automation with enrolments, aggregated in one pass (the dashboard's pages)."""
        from clm.automation.kept_units import units_query
        from clm.experiments import report as experiment_report
        from clm.experiments.measurement import Measurement

        sql, params = units_query(self.con, None, ordered=False)
        default = Measurement(self.settings.clv.margin)
        return experiment_report.all_reports(self.con, sql, params, self._measurements(), default)


def _describe(automation: Any) -> dict[str, Any]:
    return {
        "name": automation.name,
        "path": automation.path,
        "trigger": automation.trigger_kind,
        "steps": len(automation.order),
        "hash": automation.content_hash[:12],
    }


def _instant(value: datetime | str | None, what: str) -> datetime | None:
    """A naive UTC datetime from a datetime or ISO text (a date means its midnight)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise AutomationError(f"{what} {value!r} is not a date or time (ISO 8601)") from exc
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
