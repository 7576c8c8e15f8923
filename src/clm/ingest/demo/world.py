"""The world: :func:`generate` runs the simulation into a :class:`DemoWorld`;
:func:`build` imports one into a workspace and scores it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from clm.ingest.demo import programmes
from clm.ingest.demo.calendar import Calendar
from clm.ingest.demo.frames import customers_frame, events_frame, transactions_frame
from clm.ingest.demo.population import population
from clm.ingest.demo.purchases import order_lines, order_times, refunds
from clm.ingest.demo.seed import SEED_CUSTOMER_ID, seed_customer
from clm.ingest.demo.sessions import (
    Events,
    anonymous_visits,
    before_identifying,
    browsing,
    purchase_sessions,
    signups,
)
from clm.progress import NoProgress, Progress

if TYPE_CHECKING:
    from clm.workspace import Workspace

DEFAULT_AS_OF = date(2026, 10, 31)


@dataclass(frozen=True)
class DemoWorld:
    """A generated population: the frames to import, the as-of date to score at,
    and the id of the seed customer whose story the demo tells."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    events: pd.DataFrame
    as_of: date
    seed_customer_id: str


def generate(n_profiles: int = 50_000, seed: int = 7, as_of: date = DEFAULT_AS_OF) -> DemoWorld:
    """Simulate the two years before ``as_of`` for ``n_profiles`` profiles (plus the
    seed customer). Pure and deterministic for a seed; see the module docstring."""
    if n_profiles < 1:
        raise ValueError(f"a demo world needs at least one profile, not {n_profiles}")
    rng = np.random.default_rng(seed)
    cal = Calendar.ending(as_of)
    pop = population(n_profiles, rng, cal)
    orders = order_times(pop, rng, cal)
    lines = order_lines(*orders, pop, rng)
    events = events_frame(
        Events.concat(
            [
                purchase_sessions(orders, lines, rng),
                browsing(pop, rng, cal),
                before_identifying(pop, rng),
                anonymous_visits(pop, rng),
                signups(pop),
            ]
        ),
        cal,
    )
    transactions = transactions_frame(lines, refunds(lines, rng), cal)
    seed_profile, seed_purchases, seed_other = seed_customer(cal)
    return DemoWorld(
        customers=_stack(seed_profile, customers_frame(pop, rng, cal)),
        transactions=_stack(seed_purchases, transactions),
        events=_stack(seed_other, events),
        as_of=as_of,
        seed_customer_id=SEED_CUSTOMER_ID,
    )


def _stack(first: pd.DataFrame, rest: pd.DataFrame) -> pd.DataFrame:
    """The seed customer's rows, then the population's, with the population's types."""
    return pd.concat([first.astype(rest.dtypes.to_dict()), rest], ignore_index=True)


def build(
    ws: Workspace,
    n_profiles: int = 50_000,
    seed: int = 7,
    progress: Progress | None = None,
    *,
    as_of: date = DEFAULT_AS_OF,
    history: tuple[int, ...] = (),
) -> DemoWorld:
    """Generate a world, import its customers, transactions and events into ``ws``,
    and score it as of the world's as-of date (first as of each of ``history`` days
    before it, oldest first, so segment history and score crossings exist); copy the
    seed automations into its definitions. Building the same world again imports
    nothing new (every id is deterministic)."""
    report = progress or NoProgress()
    report.phase(f"generating {n_profiles:,} demo profiles")
    world = generate(n_profiles, seed, as_of)
    report.advance(1.0)
    ws.import_customers(
        world.customers,
        customer="customer_id",
        email="email",
        phone="phone",
        signup="signup_at",
        timezone_column="timezone",
        anonymous="anonymous_id",
        consent={"email": "consent_email", "sms": "consent_sms", "push": "consent_push"},
        progress=progress,
    )
    ws.import_transactions(
        world.transactions,
        customer="customer_id",
        time="ts",
        amount="amount",
        category="category",
        order="order_id",
        event_id="event_id",
        progress=progress,
    )
    ws.import_events(
        world.events,
        type_column="type",
        customer="customer_id",
        anonymous="anonymous_id",
        time="ts",
        category="category",
        event_id="event_id",
        progress=progress,
    )
    for days in sorted(history, reverse=True):
        ws.score(as_of=world.as_of - timedelta(days=days), progress=progress)
    ws.score(as_of=world.as_of, progress=progress)
    programmes.install(ws.root)
    return world
