"""Importing purchase lines: mapping, expressions, filters, all-or-nothing, idempotency."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from clm import ImportFailed, Workspace

INVOICES = """InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,6,12/1/2010 8:26,2.55,17850,United Kingdom
536365,71053,6,12/1/2010 8:26,3.39,17850,United Kingdom
C536379,D,-1,12/1/2010 9:41,27.50,14527,United Kingdom
536380,22961,24,12/1/2010 9:41,0.85,,United Kingdom
536381,22139,2,12/2/2010 10:00,4.25,14527,France
536381,22139,2,12/2/2010 10:00,4.25,14527,France
"""


def write(tmp_path: Path, text: str, name: str = "lines.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def events(ws: Workspace) -> pd.DataFrame:
    return ws.con.execute(
        "SELECT customer_id, type, ts, amount::VARCHAR AS amount, order_id, category FROM events "
        "ORDER BY ts, customer_id, amount"
    ).fetchdf()


def import_invoices(ws: Workspace, path: Path, **extra: object) -> object:
    return ws.import_transactions(
        path,
        customer="CustomerID",
        time="InvoiceDate",
        time_format="%m/%d/%Y %H:%M",
        amount="Quantity*UnitPrice",
        order="InvoiceNo",
        where="CustomerID IS NOT NULL",
        **extra,
    )


def test_online_retail_style_mapping(ws: Workspace, tmp_path: Path) -> None:
    summary = import_invoices(ws, write(tmp_path, INVOICES))
    assert (summary.rows_read, summary.filtered, summary.imported) == (6, 1, 5)
    assert (summary.duplicates, summary.quarantined) == (0, 0)
    got = events(ws)
    # 6 x 2.55 = 15.299999999999999 in binary floating point; stored exactly as money.
    assert got["amount"].tolist() == [
        "15.3000",
        "20.3400",
        "-27.5000",
        "8.5000",
        "8.5000",
    ]
    assert set(got["type"]) == {"purchase"}
    assert got["ts"].iloc[0] == pd.Timestamp("2010-12-01 08:26:00")
    assert got["order_id"].tolist() == ["536365", "536365", "C536379", "536381", "536381"]


def test_same_file_twice_adds_nothing(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, INVOICES)
    import_invoices(ws, path)
    again = import_invoices(ws, path)
    assert (again.imported, again.duplicates) == (0, 5)
    assert len(events(ws)) == 5


def derived_id(kind: str, values: list[str | None], occurrence: int) -> str:
    """SPEC §1's derived event id, computed apart from DuckDB: md5 of the kind and the
    row's fields joined by the unit separator (a missing field as NUL), then the row's
    occurrence number among identical rows from the second on."""
    text = chr(31).join([kind, *(chr(0) if v is None else v for v in values)])
    digest = hashlib.md5(text.encode()).hexdigest()
    return digest if occurrence == 1 else f"{digest}-{occurrence}"


def test_derived_ids_are_content_hashes_numbered_among_identical_rows(ws: Workspace) -> None:
    rows = [
        ["c1", "2020-01-01 10:00:00", "5.00"],
        ["c2", "2020-01-02 11:00:00", "7.50"],
        ["c1", "2020-01-01 10:00:00", "5.00"],
        ["c3", "2020-01-03 12:00:00", None],
        ["c1", "2020-01-01 10:00:00", "5.00"],
        ["c2", "2020-01-02 11:00:00", "7.50"],
    ]
    frame = pd.DataFrame(rows, columns=["cust", "ts", "amount"], dtype="string")
    result = ws.import_transactions(
        frame, customer="cust", time="ts", amount="coalesce(amount, '0')"
    )
    seen: dict[tuple[str | None, ...], int] = {}
    expected = set()
    for row in rows:
        seen[tuple(row)] = seen.get(tuple(row), 0) + 1
        expected.add(derived_id("transactions", row, seen[tuple(row)]))
    got = {r[0] for r in ws.con.execute("SELECT event_id FROM events").fetchall()}
    assert got == expected
    assert (result.imported, result.duplicates) == (6, 0)
    again = ws.import_transactions(
        frame.iloc[[0, 2, 4, 4]], customer="cust", time="ts", amount="coalesce(amount, '0')"
    )
    assert (again.imported, again.duplicates) == (1, 3)  # the fourth c1 line is new


def test_given_event_ids_deduplicate_within_and_across_files(ws: Workspace, tmp_path: Path) -> None:
    text = "id,cust,ts,amount\na,1,2020-01-01,5\na,1,2020-01-01,5\nb,2,2020-01-02,7\n"
    first = ws.import_transactions(write(tmp_path, text), customer="cust", time="ts", event_id="id")
    assert (first.imported, first.duplicates) == (2, 1)
    second = ws.import_transactions(
        write(tmp_path, "id,cust,ts,amount\nb,2,2020-01-02,7\nc,3,2020-01-03,1\n", "more.csv"),
        customer="cust",
        time="ts",
        event_id="id",
    )
    assert (second.imported, second.duplicates) == (1, 1)


def test_bad_time_names_the_line_and_imports_nothing(ws: Workspace, tmp_path: Path) -> None:
    lines = INVOICES.splitlines()
    lines[5] = lines[5].replace("12/2/2010 10:00", "yesterday")  # line 6 of the file
    with pytest.raises(ImportFailed) as info:
        import_invoices(ws, write(tmp_path, "\n".join(lines) + "\n"))
    message = str(info.value)
    assert "1 bad line" in message
    assert "line 6: field InvoiceDate: cannot read 'yesterday' as a time" in message
    assert ws.status()["events"]["total"] == 0
    assert ws.status()["imports"] == []


def test_non_numeric_amount_and_missing_id_are_reported(ws: Workspace, tmp_path: Path) -> None:
    text = "cust,ts,qty,price\n1,2020-01-01,2,x1\n,2020-01-02,1,3\n3,2020-01-03,1,3\n"
    with pytest.raises(ImportFailed) as info:
        ws.import_transactions(
            write(tmp_path, text), customer="cust", time="ts", amount="qty*price"
        )
    assert [(r.line, r.reason) for r in info.value.bad_rows] == [
        (2, "field price: 'x1' is not a number"),
        (3, "field cust: missing customer id"),
    ]


def test_quarantine_imports_the_rest_and_keeps_the_bad_rows(ws: Workspace, tmp_path: Path) -> None:
    text = "cust,ts,amount\n1,2020-01-01,5\n2,not a time,6\n3,2020-01-03,seven\n4,2020-01-04,8\n"
    bad = tmp_path / "bad.csv"
    summary = ws.import_transactions(
        write(tmp_path, text), customer="cust", time="ts", quarantine=bad
    )
    assert (summary.imported, summary.quarantined) == (2, 2)
    kept = pd.read_csv(bad, dtype=str)
    assert kept["line"].tolist() == ["3", "4"]
    assert kept["cust"].tolist() == ["2", "3"]
    assert "cannot read 'not a time'" in kept["reason"].iloc[0]
    assert "'seven' is not a number" in kept["reason"].iloc[1]


def test_gzip_no_header_and_delimiter(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "lines.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("00001;19970101;1;11.77\n00002;19970112;5;77.00\n")
    summary = ws.import_transactions(
        path,
        header=False,
        columns=["cust", "day", "cds", "dollars"],
        delimiter=";",
        customer="cust",
        time="day",
        time_format="%Y%m%d",
        amount="dollars",
    )
    assert summary.imported == 2
    got = events(ws)
    assert got["customer_id"].tolist() == ["00001", "00002"]  # ids stay text
    assert got["ts"].tolist() == [pd.Timestamp("1997-01-01"), pd.Timestamp("1997-01-12")]


def test_integer_typed_dates_from_parquet(ws: Workspace, tmp_path: Path) -> None:
    frame = pd.DataFrame({"cust": [1, 2], "day": [19970101, 19980630], "usd": [1.5, 2.25]})
    path = tmp_path / "lines.parquet"
    frame.to_parquet(path)
    ws.import_transactions(path, customer="cust", time="day", time_format="%Y%m%d", amount="usd")
    got = events(ws)
    assert got["customer_id"].tolist() == ["1", "2"]
    assert got["ts"].iloc[1] == pd.Timestamp("1998-06-30")


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_dataframes_with_canonical_names_need_no_options(ws: Workspace, kind: str) -> None:
    data = {
        "customer_id": ["a", "b"],
        "ts": pd.to_datetime(["2021-03-01 10:00", "2021-03-02 11:00"]),
        "amount": [10.0, 20.5],
        "category": ["beauty", "fashion"],
        "order_id": ["o1", "o2"],
    }
    frame = pd.DataFrame(data)
    source = {
        "pandas": frame,
        "polars": pl.from_pandas(frame),
        "arrow": pa.Table.from_pandas(frame),
    }[kind]
    summary = ws.import_transactions(source)
    assert summary.imported == 2
    got = events(ws)
    assert got["category"].tolist() == ["beauty", "fashion"]
    assert got["amount"].tolist() == ["10.0000", "20.5000"]


def test_times_with_offsets_and_import_time_zone(ws: Workspace, tmp_path: Path) -> None:
    text = "cust,ts,amount\n1,2020-06-01 10:00:00+02:00,1\n2,2020-06-01 10:00:00,1\n"
    ws.import_transactions(
        write(tmp_path, text), customer="cust", time="ts", timezone="America/New_York"
    )
    got = events(ws).set_index("customer_id")["ts"]
    assert got["1"] == pd.Timestamp("2020-06-01 08:00")  # the offset wins
    assert got["2"] == pd.Timestamp("2020-06-01 14:00")  # New York summer time is UTC-4


def test_unknown_column_lists_the_columns(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match=r"no column 'Customer' .*columns are: cust, ts"):
        ws.import_transactions(
            write(tmp_path, "cust,ts,amount\n1,2020-01-01,1\n"), customer="Customer", time="ts"
        )


def test_expressions_cannot_smuggle_statements(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path, "cust,ts,amount\n1,2020-01-01,1\n")
    with pytest.raises(ImportFailed, match="may only use the source's columns"):
        ws.import_transactions(
            path, customer="cust", time="ts", where="cust IN (SELECT customer_id FROM profiles)"
        )
    with pytest.raises(ImportFailed, match="single expression"):
        ws.import_transactions(path, customer="cust", time="ts", where="true; DROP TABLE events")


def test_where_compares_numeric_text_as_numbers(ws: Workspace, tmp_path: Path) -> None:
    text = "cust,ts,qty\n1,2020-01-01,10\n2,2020-01-01,9\n3,2020-01-01,-2\n"
    summary = ws.import_transactions(
        write(tmp_path, text), customer="cust", time="ts", amount="qty", where="qty > 9"
    )
    assert (summary.imported, summary.filtered) == (1, 2)


def test_missing_file_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="no such file"):
        ws.import_transactions(tmp_path / "nope.csv")


def test_legacy_latin1_export_is_read(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("cust,ts,amount,item\n1,2020-01-01,5,caf\xe9 cr\xe8me\n".encode("latin-1"))
    assert ws.import_transactions(path, customer="cust", time="ts").imported == 1
    explicit = tmp_path / "explicit.csv"
    explicit.write_bytes("cust,ts,amount\n2,2020-01-02,7\n".encode("latin-1"))
    summary = ws.import_transactions(explicit, customer="cust", time="ts", encoding="latin-1")
    assert summary.imported == 1


def test_aligned_text_files_split_on_runs_of_blanks(ws: Workspace, tmp_path: Path) -> None:
    """The CDNOW layout: leading blanks, runs of spaces, CRLF line ends, a header line."""
    source = tmp_path / "aligned.txt"
    source.write_bytes(
        b" customer_id  date number_of_cds  dollar_value\r\n"
        b" 00001 19970101  1   11.77\r\n"
        b" 00002 19970112  5   77.00\r\n"
        b"\t00002 19970112\t 1    0.00  \r\n"
    )
    summary = ws.import_transactions(
        source,
        delimiter="whitespace",
        customer="customer_id",
        time="date",
        time_format="%Y%m%d",
        amount="dollar_value",
    )
    assert (summary.rows_read, summary.imported) == (3, 3)
    rows = ws.con.execute(
        "SELECT customer_id, ts::DATE::VARCHAR, amount::DOUBLE FROM events ORDER BY amount"
    ).fetchall()
    assert rows == [
        ("00002", "1997-01-12", 0.0),
        ("00001", "1997-01-01", 11.77),
        ("00002", "1997-01-12", 77.0),
    ]


def test_aligned_text_line_with_a_missing_field_is_named(ws: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "aligned.txt"
    source.write_text("a 20240101 1.5\nb 20240102\nc 20240103 2\n")
    with pytest.raises(ImportFailed, match=r"line 2 has 2 fields, expected 3"):
        ws.import_transactions(
            source,
            delimiter="whitespace",
            header=False,
            columns=["c", "d", "v"],
            customer="c",
            time="d",
            time_format="%Y%m%d",
            amount="v",
        )
    assert ws.con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
