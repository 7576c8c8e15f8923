"""Numbers, money, shares and times as the pages print them."""

from __future__ import annotations

from datetime import date, datetime

from markupsafe import Markup

from clm.web.format import inline_code, money, number, percent, when


def test_numbers_have_thousands_separators_and_missing_values_a_dash() -> None:
    assert number(1234567) == "1,234,567"
    assert number(1234.5) == "1,234"  # round half to even, like Python
    assert number(1235.5) == "1,236"
    assert number(0.25, 2) == "0.25"
    assert number(None) == number(float("nan")) == "—"


def test_money_has_two_decimals_and_percent_one() -> None:
    assert money(1234.5) == "1,234.50"
    assert money(-0.004) == "0.00" and money(-1.5) == "-1.50"
    assert percent(0.1234) == "12.3 %"
    assert percent(1) == "100.0 %"
    assert percent(None) == "—"


def test_times_are_short_and_dates_stay_dates() -> None:
    assert when("2026-10-31T19:12:55.123") == "2026-10-31 19:12"
    assert when("2026-10-31") == "2026-10-31"
    assert when(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02 03:04"
    assert when(date(2026, 1, 2)) == "2026-01-02"
    assert when(None) == when("") == "—"


def test_inline_code_escapes_everything_else() -> None:
    html = inline_code("run `clm score` <now> & `x<y`")
    assert isinstance(html, Markup)
    assert str(html) == "run <code>clm score</code> &lt;now&gt; &amp; <code>x&lt;y</code>"
