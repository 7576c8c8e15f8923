"""Write a realistic purchase-line CSV for the benchmarks, in chunks, with little memory.

The file has one line per purchase line::

    customer_id,ts,amount,order_id,category
    C00012345,2023-05-17T13:45:12,24.90,O0000000042,books

The world it describes (deterministic for a seed, whatever the size):

- every one of the ``M`` customers places at least one order (when there are at least ``M``
  orders, i.e. ``N ≥ 1.8 M`` or so); the other orders go to 40% of them (repeat buyers), drawn
  from a skewed activity distribution (a few heavy buyers, many light ones); the other 60%
  buy once;
- an order has ``1 + Poisson(0.8)`` lines (mean 1.8) sharing its time and order id; about 2% of
  the orders are single lines without an order id (each such line is an order by itself);
- order times spread over three years (2022-01-01 to 2024-12-31, UTC, without a zone), denser
  towards the end (a growing business);
- amounts are log-normal with cents (median about 25); about 3% of the lines are refunds
  (negative amounts), so some orders are negative as a whole;
- twelve categories with Zipf-like shares.

Lines are generated order by order in chunks of ``CHUNK_ORDERS`` orders with numpy and written
with Arrow's CSV writer, so even 100M lines need only a few hundred MB of memory.

Run ``python benchmarks/generate.py --lines 10000000 --customers 1000000 --out lines.csv``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

COLUMNS = ("customer_id", "ts", "amount", "order_id", "category")
CATEGORIES = (
    "books",
    "fashion",
    "home",
    "electronics",
    "beauty",
    "toys",
    "sports",
    "garden",
    "food",
    "music",
    "health",
    "pets",
)
START = np.datetime64("2022-01-01T00:00:00", "s")
END = np.datetime64("2025-01-01T00:00:00", "s")
CHUNK_ORDERS = 500_000
EXTRA_LINES_MEAN = 0.8  # lines per order = 1 + Poisson(EXTRA_LINES_MEAN)
NO_ORDER_ID_SHARE = 0.02
REFUND_SHARE = 0.03
REPEATER_SHARE = 0.4  # the other customers buy once
ACTIVITY_SKEW = 1.5  # repeat orders go to rank floor(REPEATER_SHARE * M * U**ACTIVITY_SKEW)
TIME_SKEW = 0.8  # order time = START + span * U**TIME_SKEW: denser towards END
AMOUNT_MEDIAN = 25.0
AMOUNT_SIGMA = 0.9


@dataclass(frozen=True)
class World:
    """The size and seed of a generated file."""

    lines: int
    customers: int
    seed: int = 42

    def __post_init__(self) -> None:
        if self.lines < 1 or self.customers < 1:
            raise ValueError("lines and customers must be positive")


def customer_ids(rank: np.ndarray, customers: int) -> np.ndarray:
    """Spread activity ranks over customer numbers with an affine bijection mod ``customers``.

    Heavy buyers (low ranks) then get unrelated ids, as in real data.
    """
    step = _coprime_step(customers)
    return (rank.astype(np.int64) * step + 7919) % customers


def _coprime_step(n: int) -> int:
    """A large step coprime with ``n`` (so that ``i -> i * step mod n`` is a bijection)."""
    step = 2_654_435_761 % n or 1
    while math.gcd(step, n) != 1:
        step += 1
    return step


def chunk_orders(world: World, first: int, count: int) -> dict[str, np.ndarray]:
    """Orders ``first .. first + count - 1``: customer number, time, line count, has id."""
    rng = np.random.default_rng([world.seed, first])
    index = np.arange(first, first + count, dtype=np.int64)
    repeaters = max(1, int(REPEATER_SHARE * world.customers))
    skewed = np.floor(repeaters * rng.random(count) ** ACTIVITY_SKEW).astype(np.int64)
    rank = np.where(index < world.customers, index, np.minimum(skewed, world.customers - 1))
    span = int((END - START) / np.timedelta64(1, "s"))
    offset = (span * rng.random(count) ** TIME_SKEW).astype(np.int64)
    return {
        "order": index,
        "customer": customer_ids(rank, world.customers),
        "ts": START + offset.astype("timedelta64[s]"),
        "n_lines": 1 + rng.poisson(EXTRA_LINES_MEAN, count),
        "has_id": rng.random(count) >= NO_ORDER_ID_SHARE,
    }


def orders_to_lines(world: World, orders: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Expand orders into lines; lines without an order id become single-line orders."""
    n_lines = np.where(orders["has_id"], orders["n_lines"], 1)
    lines = {key: np.repeat(values, n_lines) for key, values in orders.items()}
    rng = np.random.default_rng([world.seed, int(orders["order"][0]), 1])
    n = len(lines["order"])
    cents = np.round(AMOUNT_MEDIAN * 100 * rng.lognormal(0.0, AMOUNT_SIGMA, n)).astype(np.int64)
    cents = np.maximum(cents, 50)
    refund = rng.random(n) < REFUND_SHARE
    lines["cents"] = np.where(refund, -cents, cents)
    weights = 1.0 / np.arange(1, len(CATEGORIES) + 1)
    lines["category"] = rng.choice(len(CATEGORIES), size=n, p=weights / weights.sum())
    return lines


def to_arrow(lines: dict[str, np.ndarray]) -> pa.Table:
    """The CSV columns as an Arrow table (text formatting happens in Arrow, not Python)."""
    customer = pc.utf8_lpad(pa.array(lines["customer"]).cast(pa.string()), 8, "0")
    order = pc.utf8_lpad(pa.array(lines["order"]).cast(pa.string()), 10, "0")
    order_id = pc.if_else(
        pa.array(lines["has_id"]),
        pc.binary_join_element_wise("O", order, ""),
        pa.nulls(len(order), pa.string()),
    )
    amount = pa.array(lines["cents"] / 100.0).cast(pa.decimal128(12, 2))
    return pa.table(
        {
            "customer_id": pc.binary_join_element_wise("C", customer, ""),
            "ts": pc.strftime(pa.array(lines["ts"]), format="%Y-%m-%dT%H:%M:%S"),
            "amount": amount,
            "order_id": order_id,
            "category": pa.array(np.array(CATEGORIES, dtype=object)[lines["category"]]),
        }
    )


def batches(world: World) -> Iterator[pa.Table]:
    """The file's lines as Arrow tables of about ``1.8 * CHUNK_ORDERS`` lines each."""
    written = 0
    first = 0
    while written < world.lines:
        lines = orders_to_lines(world, chunk_orders(world, first, CHUNK_ORDERS))
        keep = min(len(lines["order"]), world.lines - written)
        yield to_arrow({key: values[:keep] for key, values in lines.items()})
        written += keep
        first += CHUNK_ORDERS


def write_csv(world: World, path: Path) -> int:
    """Write the file; return the number of lines written (without the header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = pcsv.WriteOptions(include_header=False, quoting_style="none")
    written = 0
    with path.open("wb") as sink:
        sink.write((",".join(COLUMNS) + "\n").encode())
        for table in batches(world):
            pcsv.write_csv(table, sink, options)
            written += table.num_rows
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True, help="purchase lines to write")
    parser.add_argument("--customers", type=int, required=True, help="number of customers")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    args = parser.parse_args(argv)
    n = write_csv(World(args.lines, args.customers, args.seed), args.out)
    print(f"wrote {n:,} lines to {args.out}")


if __name__ == "__main__":
    main()
