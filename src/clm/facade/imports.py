"""Importing customers, purchases and events from files and tables (all or nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clm.facade.base import WorkspaceBase
from clm.ingest.customers import import_customers
from clm.ingest.events import import_events
from clm.ingest.mapping import CustomerMapping, EventMapping, SourceOptions
from clm.ingest.summary import ImportSummary
from clm.progress import Progress


class Imports(WorkspaceBase):
    """Import methods of the facade."""

    def import_transactions(
        self,
        source: Any,
        *,
        customer: str | None = None,
        time: str | None = None,
        time_format: str | None = None,
        amount: str | None = None,
        category: str | None = None,
        order: str | None = None,
        event_id: str | None = None,
        anonymous: str | None = None,
        where: str | None = None,
        delimiter: str | None = None,
        header: bool = True,
        columns: list[str] | tuple[str, ...] | None = None,
        timezone: str | None = None,
        quarantine: str | Path | None = None,
        encoding: str | None = None,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import purchase lines from a CSV/Parquet file or a pandas/polars/Arrow table.

        Column options name source columns; ``amount`` may be an expression over
        numeric columns (``"Quantity*UnitPrice"``); ``where`` filters rows
        (``"CustomerID IS NOT NULL"``). All or nothing unless ``quarantine``
        names a file for the bad rows.
        """
        mapping = EventMapping(
            customer=customer,
            anonymous=anonymous,
            time=time,
            time_format=time_format,
            type="purchase",
            amount=amount,
            category=category,
            order=order,
            event_id=event_id,
        )
        options = _options(where, delimiter, header, columns, timezone, quarantine, encoding)
        return self._import_events(source, mapping, "transactions", options, progress)

    def import_events(
        self,
        source: Any,
        *,
        type: str | None = None,
        type_column: str | None = None,
        customer: str | None = None,
        anonymous: str | None = None,
        time: str | None = None,
        time_format: str | None = None,
        amount: str | None = None,
        category: str | None = None,
        order: str | None = None,
        event_id: str | None = None,
        properties: list[str] | tuple[str, ...] = (),
        where: str | None = None,
        delimiter: str | None = None,
        header: bool = True,
        columns: list[str] | tuple[str, ...] | None = None,
        timezone: str | None = None,
        quarantine: str | Path | None = None,
        encoding: str | None = None,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import events (visits, signups, any type): a constant ``type`` or a ``type_column``."""
        mapping = EventMapping(
            customer=customer,
            anonymous=anonymous,
            time=time,
            time_format=time_format,
            type=type,
            type_column=type_column,
            amount=amount,
            category=category,
            order=order,
            event_id=event_id,
            properties=tuple(properties),
        )
        options = _options(where, delimiter, header, columns, timezone, quarantine, encoding)
        return self._import_events(source, mapping, "events", options, progress)

    def import_customers(
        self,
        source: Any,
        *,
        customer: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        signup: str | None = None,
        time_format: str | None = None,
        timezone_column: str | None = None,
        anonymous: str | None = None,
        consent: dict[str, str] | None = None,
        consent_time: str | None = None,
        attributes: list[str] | tuple[str, ...] | None = None,
        where: str | None = None,
        delimiter: str | None = None,
        header: bool = True,
        columns: list[str] | tuple[str, ...] | None = None,
        timezone: str | None = None,
        quarantine: str | Path | None = None,
        encoding: str | None = None,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import customer profiles: traits, consent per channel (``{"email": "col"}``),
        anonymous-id links and free attributes (every other column by default)."""
        mapping = CustomerMapping(
            customer=customer,
            email=email,
            phone=phone,
            signup=signup,
            time_format=time_format,
            timezone=timezone_column,
            anonymous=anonymous,
            consent=dict(consent or {}),
            consent_time=consent_time,
            attributes=tuple(attributes) if attributes is not None else None,
        )
        options = _options(where, delimiter, header, columns, timezone, quarantine, encoding)
        return import_customers(
            self.con,
            source,
            mapping,
            options,
            progress=progress,
            max_errors=self.settings.imports.max_reported_errors,
            default_timezone=self.settings.imports.timezone,
        )

    def _import_events(
        self,
        source: Any,
        mapping: EventMapping,
        kind: str,
        options: SourceOptions,
        progress: Progress | None,
    ) -> ImportSummary:
        summary = import_events(
            self.con,
            source,
            mapping,
            options,
            kind=kind,
            progress=progress,
            max_errors=self.settings.imports.max_reported_errors,
            default_timezone=self.settings.imports.timezone,
        )
        # The copy clustered by profile (clm.profiles.clustered) is left behind: its readers
        # take the new rows from the table's tail until a run or the dashboard advances it,
        # so an import does not pay for sorting them (+77% on a 4M-event import).
        return summary


def _options(
    where: str | None,
    delimiter: str | None,
    header: bool,
    columns: list[str] | tuple[str, ...] | None,
    timezone: str | None,
    quarantine: str | Path | None,
    encoding: str | None,
) -> SourceOptions:
    """The source options every import shares."""
    return SourceOptions(
        where=where,
        delimiter=delimiter,
        header=header,
        columns=tuple(columns or ()),
        timezone=timezone,
        quarantine=str(quarantine) if quarantine is not None else None,
        encoding=encoding,
    )
