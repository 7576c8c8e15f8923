"""The world of the automation benchmark: N customers, their purchases and a few events,
three scoring runs and 20 automation files, built through the public Workspace API.

Generation is vectorised (numpy), deterministic for a seed. The dates line up with the
runner's clock (SPEC §1: a run as of D is known at D + 1 day 00:00 UTC):

- scoring runs as of ``D - 14`` (history), ``D - 7`` and ``D``;
- a priming run over ``(D - 6 days - 1 h, D]`` starts the clock: the run as of ``D - 14``
  is the crossings' baseline and the segment triggers' history, the run as of ``D - 7``
  is news (segment and crossing enrolments at ``D - 6``, 7-day goal windows);
- the measured tick is ``(D, D + 1 day]``: the run as of ``D`` becomes known at its end
  (segment-entered and score-crossing triggers have work), 7-day goal windows of the
  priming enrolments close (hand-offs have work), signups, abandoned carts and purchases
  fall inside it (event triggers and goals have work), and ``D + 1`` is a tick of the
  fortnightly schedule (epoch-aligned 14-day periods, so the priming window holds none).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from clm.workspace import Workspace

CATEGORIES = ("beauty", "fashion", "home", "electronics", "grocery", "sports")
SHARES = np.array([0.22, 0.24, 0.16, 0.10, 0.20, 0.08])
ZONES = ("Europe/Berlin", "Europe/London", "UTC", "America/New_York")
ZONE_SHARES = np.array([0.45, 0.25, 0.15, 0.15])
EPOCH = date(1970, 1, 1)
SCHEDULE_DAYS = 14


def as_of_date(near: date = date(2026, 11, 1)) -> date:
    """The ``D`` whose next midnight is a tick of the fortnightly schedule, near ``near``."""
    ticks = (near - EPOCH).days // SCHEDULE_DAYS
    return EPOCH + timedelta(days=ticks * SCHEDULE_DAYS) - timedelta(days=1)


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _timestamps(day0: date, seconds: np.ndarray) -> pd.Series:
    return pd.Series(np.datetime64(midnight(day0), "s") + seconds.astype("timedelta64[s]"))


def customers(n: int, rng: np.random.Generator, d: date) -> pd.DataFrame:
    ids = pd.Series(np.arange(n)).map("C{:08d}".format)
    signup_age = rng.integers(30, 3 * 365, n) * 86_400
    return pd.DataFrame(
        {
            "customer_id": ids,
            "email": ids.str.lower() + "@example.com",
            "phone": pd.Series(np.arange(n) + 4_915_100_000_000).map("+{}".format),
            "signup_at": _timestamps(d, -signup_age),
            "timezone": np.array(ZONES)[rng.choice(len(ZONES), n, p=ZONE_SHARES)],
            "consent_email": rng.random(n) < 0.85,
            "consent_sms": rng.random(n) < 0.35,
            "consent_push": rng.random(n) < 0.5,
            "card_usage": np.array(["never", "rare", "frequent"])[rng.choice(3, n)],
        }
    )


def transactions(n: int, rng: np.random.Generator, d: date) -> pd.DataFrame:
    """Purchases over two years before ``D - 7`` (85% of customers buy, about 4 orders
    each), a burst in the last week before ``D`` (8%, beauty-heavy, so interest rises)
    and in the last week before ``D - 7`` (6%), and purchases inside the tick (1%)."""
    buyers = np.flatnonzero(rng.random(n) < 0.85)
    counts = rng.geometric(0.25, buyers.size)
    history = np.repeat(buyers, counts)
    old = _timestamps(d - timedelta(days=14), -rng.integers(0, 730 * 86_400, history.size))
    parts = [(history, old, rng.choice(len(CATEGORIES), history.size, p=SHARES))]
    beauty = np.array([0.6, 0.1, 0.1, 0.05, 0.1, 0.05])
    for share, start, days in ((0.06, d - timedelta(days=13), 7), (0.08, d - timedelta(6), 7)):
        who = rng.choice(n, int(share * n), replace=False)
        who = np.repeat(who, rng.integers(1, 4, who.size))
        ts = _timestamps(start, rng.integers(0, days * 86_400, who.size))
        parts.append((who, ts, rng.choice(len(CATEGORIES), who.size, p=beauty)))
    who = rng.choice(n, max(1, n // 100), replace=False)
    parts.append((who, _timestamps(d, rng.integers(0, 86_400, who.size)), rng.choice(6, who.size)))
    cid = np.concatenate([p[0] for p in parts])
    ts = pd.concat([p[1] for p in parts], ignore_index=True)
    cat = np.concatenate([p[2] for p in parts])
    order = pd.Series(np.arange(cid.size)).map("O{:09d}".format)
    return pd.DataFrame(
        {
            "customer_id": pd.Series(cid).map("C{:08d}".format),
            "ts": ts,
            "amount": np.round(rng.gamma(2.0, 25.0, cid.size) + 1.0, 2),
            "category": np.array(CATEGORIES)[cat],
            "order_id": order,
            "event_id": "p-" + order,
        }
    )


def events(n: int, rng: np.random.Generator, d: date) -> pd.DataFrame:
    """Inside the tick: email signups (0.3% of customers), abandoned carts (1%)."""
    kinds = (("email_signup", max(1, 3 * n // 1000)), ("cart_abandoned", max(1, n // 100)))
    frames = []
    for kind, size in kinds:
        who = rng.choice(n, size, replace=False)
        frames.append(
            pd.DataFrame(
                {
                    "type": kind,
                    "customer_id": pd.Series(who).map("C{:08d}".format),
                    "ts": _timestamps(d, rng.integers(1, 86_400, size)),
                    "category": np.array(CATEGORIES)[rng.choice(6, size, p=SHARES)],
                    "event_id": [f"{kind}-{i}" for i in range(size)],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def build(root: Path, n: int, seed: int) -> tuple[Workspace, date]:
    """A workspace in ``root`` with the world imported, scored three times, channels as
    folders and the 20 automations written; returns it open, and ``D``."""
    rng = np.random.default_rng(seed)
    d = as_of_date()
    ws = Workspace.init(root, name="automation-bench")
    for channel in ("email", "sms", "push", "webhook"):
        ws.config_set(f"channels.{channel}.folder", f"sent/{channel}")
    ws.config_set("channels.email.sender", "bench@example.com")
    ws.import_customers(
        customers(n, rng, d),
        customer="customer_id",
        email="email",
        phone="phone",
        signup="signup_at",
        timezone_column="timezone",
        consent={"email": "consent_email", "sms": "consent_sms", "push": "consent_push"},
    )
    import_purchases(ws, transactions(n, rng, d))
    import_events(ws, events(n, rng, d))
    for days in (14, 7, 0):
        ws.score(as_of=d - timedelta(days=days))
    folder = root / "definitions" / "automations"
    for name, text in automations().items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return ws, d


# -- the 20 automations ----------------------------------------------------------------------


def _email(step: str, subject: str, text: str) -> str:
    return (
        f"  - id: {step}\n    type: send\n    channel: email\n    template:\n"
        f'      subject: "{subject}"\n      text: "{text}"\n'
    )


def _file(name: str, priority: int, trigger: str, steps: str, extra: str = "") -> str:
    return (
        f"name: {name}\npriority: {priority}\ntrigger:\n  {trigger}\n{extra}"
        f"goal: {{event: purchase, window: 7d}}\nsteps:\n{steps}"
        "measurement: {margin: 0.35, incentive_cost: 2, message_cost: {email: 0.002}}\n"
    )


def automations() -> dict[str, str]:
    """Five segment-entered, eight score-crossing (six per category), three event, one
    schedule and three hand-off automations, in the shapes of the demo's seed files."""
    out: dict[str, str] = {}
    segments = {
        "win-back": ("At Risk Customers, Cannot-lose Customers", 70),
        "falling-asleep": ("Falling Asleep Customers", 45),
        "champions-thanks": ("Champions", 55),
        "second-order": ("First-time Customers", 60),
        "first-purchase": ("Loyal Visitors", 65),
    }
    for name, (which, priority) in segments.items():
        out[name] = _file(
            name,
            priority,
            f"segment_entered: {{segments: [{which}]}}",
            _email("offer", "{{ name }}, something for you", "Hello, {{ offer }}.")
            + "  - {id: pause, type: wait, duration: 3d}\n"
            + "  - {id: ok, type: branch, condition: {consent.sms: true}, then: sms, else: done}\n"
            + "  - id: sms\n    type: send\n    channel: sms\n"
            + '    template: {text: "Your voucher is waiting."}\n'
            + "  - {id: done, type: exit}\n",
            "reentry: {after: 90d}\noffer: ten percent off\n",
        )
    for category in CATEGORIES:
        out[f"rising-{category}"] = _file(
            f"rising-{category}",
            50,
            f"score_crossing: {{score: rising, category: {category}, above: 1, rearm_below: 1}}",
            "  - id: offer\n    type: send\n    channel: email\n    variants:\n"
            + "".join(
                f"      - name: {v}\n        weight: 1\n        template:\n"
                f'          subject: "{v} in {category}"\n'
                f'          text: "Hello {{{{ name }}}}, {v} on {category}'
                '{% if next_best_category %}, and {{ next_best_category }}{% endif %}."\n'
                for v in ("points", "new-in")
            ),
            "audience:\n  attributes.card_usage: {in: [never, rare]}\nreentry: {after: 90d}\n",
        )
    out["premium-card"] = _file(
        "premium-card",
        50,
        "score_crossing: {score: activity, above: 70, rearm_below: 55}",
        _email("offer", "Your premium card", "You are one of our most active customers.")
        + "  - {id: pause, type: wait, duration: 3d}\n"
        + "  - id: push\n    type: send\n    channel: push\n"
        + '    template: {title: "Premium card", body: "No fee in the first year."}\n',
        "reentry: {after: 180d}\n",
    )
    out["big-spender"] = _file(
        "big-spender",
        40,
        "score_crossing: {score: m_score, above: 5, rearm_below: 4}",
        _email("thanks", "Thank you", "A gift for one of our best customers."),
        "reentry: {after: 180d}\n",
    )
    out["welcome"] = _file(
        "welcome",
        80,
        "event: {type: email_signup}",
        _email("welcome", "Welcome{% if name %}, {{ name }}{% endif %}!", "Thank you.")
        + "  - {id: wait-3d, type: wait, duration: 3d}\n"
        + "  - id: ordered\n    type: branch\n    condition: {n_orders_life: {at_least: 1}}\n"
        + "    then: done\n    else: activate\n"
        + _email("activate", "Ten percent off", "Use your welcome voucher.")
        + "  - {id: done, type: exit}\n",
        "reentry: never\n",
    )
    out["cart-reminder"] = _file(
        "cart-reminder",
        75,
        "event: {type: cart_abandoned, where: {category: [beauty, fashion, home]}}",
        "  - {id: wait-1h, type: wait, duration: 1h}\n"
        + _email("remind", "You left something behind", "Your cart is waiting."),
        "reentry: {after: 7d}\n",
    )
    out["cross-sell"] = _file(
        "cross-sell",
        30,
        "event: {type: purchase, where: {category: electronics}}",
        "  - id: hook\n    type: send\n    channel: webhook\n"
        + '    template: {body: {customer: "{{ customer_id }}", offer: "accessories"}}\n',
        "reentry: {after: 30d}\n",
    )
    out["newsletter"] = _file(
        "newsletter",
        10,
        f"schedule: {{every: {SCHEDULE_DAYS}d}}",
        _email(
            "issue",
            "Our news",
            "What is new this fortnight{% if top_category %} in {{ top_category }}{% endif %}.",
        ),
        "audience:\n  segment: {in: [Champions, Loyal Customers]}\nreentry: always\n",
    )
    for name, other, channel in (
        ("win-back-follow-up", "win-back", "sms"),
        ("falling-asleep-follow-up", "falling-asleep", "email"),
        ("rising-beauty-follow-up", "rising-beauty", "email"),
    ):
        step = (
            _email("reminder", "Last chance", "Your offer ends this week.")
            if channel == "email"
            else "  - id: reminder\n    type: send\n    channel: sms\n"
            '    template: {text: "Your offer ends this week."}\n'
        )
        out[name] = _file(name, 40, f"no_conversion: {{automation: {other}}}", step)
    assert len(out) == 20, len(out)
    return out


def interval_events(
    n: int, seed: int, start: datetime, seconds: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What arrives in one scheduler interval of ``seconds`` after ``start`` at the world's
    daily rates (0.3% of customers sign up to email, 1% abandon a cart, 1% buy a day), at
    least one of each: ``(events, transactions)`` for ``import_events`` and
    ``import_transactions``. Ids are prefixed ``live-`` so they never meet the world's."""
    rng = np.random.default_rng(seed + 1)
    share = seconds / 86_400

    def who(rate: float) -> pd.Series:
        size = max(1, round(rate * n * share))
        return pd.Series(rng.choice(n, size, replace=False)).map("C{:08d}".format)

    def at(size: int) -> pd.Series:
        offsets = rng.integers(1, max(2, int(seconds * 1_000_000)), size)
        return pd.Series(np.datetime64(start, "us") + offsets.astype("timedelta64[us]"))

    frames = []
    for kind, rate in (("email_signup", 0.003), ("cart_abandoned", 0.01)):
        ids = who(rate)
        frames.append(
            pd.DataFrame(
                {
                    "type": kind,
                    "customer_id": ids,
                    "ts": at(ids.size),
                    "category": np.array(CATEGORIES)[rng.choice(6, ids.size, p=SHARES)],
                    "event_id": [f"live-{kind}-{start:%Y%m%d%H%M%S}-{i}" for i in range(ids.size)],
                }
            )
        )
    buyers = who(0.01)
    orders = [f"live-O-{start:%Y%m%d%H%M%S}-{i}" for i in range(buyers.size)]
    purchases = pd.DataFrame(
        {
            "customer_id": buyers,
            "ts": at(buyers.size),
            "amount": np.round(rng.gamma(2.0, 25.0, buyers.size) + 1.0, 2),
            "category": np.array(CATEGORIES)[rng.choice(6, buyers.size, p=SHARES)],
            "order_id": orders,
            "event_id": ["p-" + o for o in orders],
        }
    )
    return pd.concat(frames, ignore_index=True), purchases


def add_interval_events(ws: Workspace, n: int, seed: int, start: datetime, seconds: float) -> int:
    """Import :func:`interval_events`; returns how many events arrived."""
    events_, purchases = interval_events(n, seed, start, seconds)
    import_events(ws, events_)
    import_purchases(ws, purchases)
    return len(events_) + len(purchases)


def import_purchases(ws: Workspace, frame: pd.DataFrame) -> None:
    """Import the world's purchase lines (the columns :func:`transactions` makes)."""
    ws.import_transactions(
        frame,
        customer="customer_id",
        time="ts",
        amount="amount",
        category="category",
        order="order_id",
        event_id="event_id",
    )


def import_events(ws: Workspace, frame: pd.DataFrame) -> None:
    """Import the world's other events (the columns :func:`events` makes)."""
    ws.import_events(
        frame,
        type_column="type",
        customer="customer_id",
        time="ts",
        category="category",
        event_id="event_id",
    )
