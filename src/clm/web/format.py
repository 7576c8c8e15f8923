"""Numbers, money, shares and times formatted for people (Jinja filters of the pages)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from markupsafe import Markup, escape

DASH = "—"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any, digits: int = 0) -> str:
    """``12345.6`` → ``12,346`` (or ``12,345.6`` with one digit); missing → a dash."""
    if _missing(value):
        return DASH
    return f"{float(value):,.{digits}f}" if digits else f"{round(float(value)):,}"


def money(value: Any) -> str:
    """Two decimals with thousands separators: ``1234.5`` → ``1,234.50``."""
    if _missing(value):
        return DASH
    cents = round(float(value), 2)
    return f"{cents + 0.0:,.2f}"  # + 0.0 turns -0.0 into 0.0: no "-0.00"


def percent(value: Any, digits: int = 1) -> str:
    """A share as a percentage: ``0.1234`` → ``12.3 %``."""
    return DASH if _missing(value) else f"{100 * float(value):,.{digits}f} %"


def when(value: Any) -> str:
    """An ISO time (or date) as ``2026-10-31 19:12``; a date stays a date."""
    if _missing(value) or value == "":
        return DASH
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return text[:16].replace("T", " ") if "T" in text else text


def inline_code(text: str) -> Markup:
    """Text with `backticked` parts shown as code (everything escaped)."""
    parts = str(text).split("`")
    return Markup("").join(
        Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts)
    )


FILTERS = {
    "number": number,
    "money": money,
    "percent": percent,
    "when": when,
    "inline_code": inline_code,
}
