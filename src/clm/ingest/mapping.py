"""How source columns map to clm's fields, for each kind of import.

Options left out fall back to the canonical column name when the source has it
(``customer_id``, ``ts``, ``amount``...), so a DataFrame with clm's own column
names imports without any options.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceOptions:
    """Options every import shares."""

    where: str | None = None
    delimiter: str | None = None
    header: bool = True
    columns: tuple[str, ...] = ()
    timezone: str | None = None
    quarantine: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class EventMapping:
    """Columns of an event or transaction source.

    ``type`` is a constant type for every row; ``type_column`` reads it per row.
    ``amount`` is an expression over numeric columns (``"Quantity*UnitPrice"``).
    """

    customer: str | None = None
    anonymous: str | None = None
    time: str | None = None
    time_format: str | None = None
    type: str | None = None
    type_column: str | None = None
    amount: str | None = None
    category: str | None = None
    order: str | None = None
    event_id: str | None = None
    properties: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomerMapping:
    """Columns of a customer source; ``attributes=None`` keeps every other column."""

    customer: str | None = None
    email: str | None = None
    phone: str | None = None
    signup: str | None = None
    time_format: str | None = None
    timezone: str | None = None
    anonymous: str | None = None
    consent: dict[str, str] = field(default_factory=dict)
    consent_time: str | None = None
    attributes: tuple[str, ...] | None = None


CANONICAL = {
    "customer": ("customer_id",),
    "anonymous": ("anonymous_id",),
    "time": ("ts", "timestamp", "time"),
    "type_column": ("type",),
    "amount": ("amount",),
    "category": ("category",),
    "order": ("order_id",),
    "event_id": ("event_id",),
    "email": ("email",),
    "phone": ("phone",),
    "signup": ("signup_at",),
    "timezone": ("timezone",),
    "consent_time": ("consent_at",),
}
CONSENT_CHANNELS = ("email", "sms", "push")


def pick(given: str | None, name: str, columns: dict[str, str]) -> str | None:
    """The column for option ``name``: the one given, else a canonical one present."""
    if given is not None:
        return given
    lower = {c.lower(): c for c in columns}
    for candidate in CANONICAL.get(name, ()):
        if candidate in lower:
            return lower[candidate]
    return None
