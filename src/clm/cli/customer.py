"""Printing the single customer view."""

from __future__ import annotations

from typing import Any

from clm.cli.render import console, number, percent, table


def print_customer(view: dict[str, Any]) -> None:
    """Traits, consent, scores and segment history, and the latest purchases."""
    console.print(f"[bold]{view['kind'].title()} {view['id']}[/]")
    traits = {k: v for k, v in view["traits"].items() if v is not None}
    facts = [[k, str(v)] for k, v in {**traits, **view["attributes"]}.items()]
    facts += [
        [f"consent {ch}", ("yes" if c["granted"] else "no") + f" since {c['since'][:10]}"]
        for ch, c in view["consent"].items()
    ]
    if view["anonymous_ids"]:
        facts.append(["anonymous ids", ", ".join(view["anonymous_ids"])])
    if facts:
        console.print(table("Profile", [("", "left"), ("", "left")], facts))
    s = view["scores"]
    if s is None:
        console.print("Not scored yet: run `clm score`.")
    else:
        rows = [
            ["segment", f"{s['segment']} ({s['phase'] or 'no phase'})"],
            ["in segment since", str(s["segment_since"])],
            ["previous segment", str(s["previous_segment"] or "—")],
            ["recency", "" if s["recency_days"] is None else f"{s['recency_days']} days"],
            ["frequency (orders in window)", number(s["frequency"])],
            ["monetary (window)", number(s["monetary"], 2)],
            ["orders (lifetime)", number(s["n_orders_life"])],
            ["R / F / M", " / ".join(str(s[k] or "—") for k in ("r_score", "f_score", "m_score"))],
        ]
        console.print(table(f"Scores as of {s['as_of']}", [("", "left"), ("", "left")], rows))
    if view["latest_purchases"]:
        console.print(
            table(
                "Latest purchases",
                [
                    ("time", "left"),
                    ("order", "left"),
                    ("lines", "right"),
                    ("amount", "right"),
                    ("categories", "left"),
                ],
                [
                    [
                        p["ts"][:16].replace("T", " "),
                        str(p["order_id"])[:24],
                        number(p["lines"]),
                        number(p["amount"], 2),
                        p["categories"] or "",
                    ]
                    for p in view["latest_purchases"]
                ],
            )
        )
    _print_activity(view)
    events = ", ".join(f"{t} {number(n)}" for t, n in view["events"].items())
    console.print(f"Events: {events or 'none'}")


def _print_activity(view: dict[str, Any]) -> None:
    """Per scope: activity (0–100, 50 = typical), trend (50 = steady), affinity (100 = average
    share of wallet), rising interest; then the next best categories."""
    if view["activity"]:
        rows = [
            [
                a["scope"],
                number(a["activity"], 1),
                number(a["trend"], 1),
                number(a["affinity"], 0),
                "rising" if a["rising"] else "",
            ]
            for a in view["activity"]
        ]
        console.print(
            table(
                "Activity (50 = typical active customer; trend > 50 = rising)",
                [
                    ("scope", "left"),
                    ("activity", "right"),
                    ("trend", "right"),
                    ("affinity", "right"),
                    ("", "left"),
                ],
                rows,
            )
        )
    value = view.get("lifetime_value")
    if value:
        spend = (
            f"{number(value['expected_spend'], 2)} per purchase, CLV {number(value['clv'], 2)}"
            if value["expected_spend"] is not None
            else "no spend model (CLV empty)"
        )
        console.print(
            f"Lifetime value ({value['model']}, as of {value['as_of']}): "
            f"P(alive) {percent(value['p_alive'])}, churn risk {percent(value['churn_risk'])}; "
            f"next {value['horizon_days']} days: {number(value['expected_purchases'], 2)} "
            f"purchases expected, {spend}"
        )
        if value["model"] == "bgnbd" and value["repeat_purchase_days"] == 0:
            console.print(
                "  (BG/NBD counts a customer who never bought again as alive; the "
                "pareto_nbd model can see them lapse: clm config set clv.model pareto_nbd)"
            )
    if view["next_best_categories"]:
        best = ", ".join(
            f"{n['category']} ({n['score']:.1f})" for n in view["next_best_categories"]
        )
        console.print(f"Next best categories: {best}")
