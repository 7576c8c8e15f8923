"""Category relations and the next best category (SPEC §4), as Ibis expressions.

Engines return counts and sums; Python turns them into the lift and correlation
matrices, which are part of the run's calibration:

- ``lift(a, b) = N · n_ab / (n_a · n_b)`` with ``n_a`` the profiles with
  ``S_hl ≥ 1`` in ``a``, ``n_ab`` in both, ``N`` in ``all``;
- the Pearson correlation of ``log1p(V_hl)`` between categories over all buyers
  (zeros included), from the sums Σx, Σx², Σxy;
- ``score(c) = Σ_a A_a · max(lift(a, c) − 1, 0)`` over the categories ``c`` where
  the profile has ``S_hl < 1``; the top ones with a positive score, ties by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from clm.scores.activity import ALL
from clm.scores.rfm import KEYS


@dataclass(frozen=True)
class Relation:
    """One ordered pair of categories."""

    a: str
    b: str
    n_a: int
    n_b: int
    n_ab: int
    lift: float | None
    correlation: float | None


def active_pairs(sums: ir.Table) -> ir.Table:
    """``n_ab`` for every ordered pair of categories (``a = b`` gives ``n_a``)."""
    active = sums.filter((sums.s_long >= 1.0) & (sums.scope != ALL)).select(*KEYS, "scope")
    other = active.select(o_pkey=active.pkey, o_pkind=active.pkind, b=active.scope)
    pairs = active.join(other, [active.pkey == other.o_pkey, active.pkind == other.o_pkind])
    return pairs.group_by(a=pairs.scope, b=pairs.b).aggregate(n_ab=lambda t: t.count())


def log_spend(sums: ir.Table, buyers: ir.Table) -> ir.Table:
    """``x = log1p(V_hl)`` per buyer and category where positive (zeros are implicit)."""
    cats = sums.filter((sums.scope != ALL) & (sums.v_long > 0))
    b = buyers.select(b_pkey=buyers.pkey, b_pkind=buyers.pkind)
    joined = cats.join(b, [cats.pkey == b.b_pkey, cats.pkind == b.b_pkind])
    return joined.select(*KEYS, "scope", x=(joined.v_long + 1.0).ln())


def spend_moments(x: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Per category Σx and Σx²; per ordered pair Σ x_a·x_b."""
    single = x.group_by("scope").aggregate(sx=lambda t: t.x.sum(), sxx=lambda t: (t.x * t.x).sum())
    other = x.select(o_pkey=x.pkey, o_pkind=x.pkind, b=x.scope, xb=x.x)
    pairs = x.join(other, [x.pkey == other.o_pkey, x.pkind == other.o_pkind])
    cross = pairs.group_by(a=pairs.scope, b=pairs.b).aggregate(sxy=lambda t: (t.x * t.xb).sum())
    return single, cross


def pearson(n: int, sx: float, sy: float, sxx: float, syy: float, sxy: float) -> float | None:
    """The Pearson correlation from sums over ``n`` observations (None if a variance is 0)."""
    if n < 2:
        return None
    cov = sxy - sx * sy / n
    var_x = sxx - sx * sx / n
    var_y = syy - sy * sy / n
    if var_x <= 0 or var_y <= 0:
        return None
    return max(-1.0, min(1.0, cov / math.sqrt(var_x * var_y)))


def relations(
    categories: list[str],
    n_active: dict[str, int],
    n_all: int,
    pair_counts: dict[tuple[str, str], int],
    n_buyers: int,
    single: dict[str, tuple[float, float]],
    cross: dict[tuple[str, str], float],
) -> list[Relation]:
    """The full matrix of ordered pairs (diagonal included) with lift and correlation."""
    out = []
    for a in categories:
        for b in categories:
            n_a, n_b = n_active.get(a, 0), n_active.get(b, 0)
            n_ab = pair_counts.get((a, b), 0)
            lift = n_all * n_ab / (n_a * n_b) if n_a and n_b else None
            sx, sxx = single.get(a, (0.0, 0.0))
            sy, syy = single.get(b, (0.0, 0.0))
            corr = pearson(n_buyers, sx, sy, sxx, syy, cross.get((a, b), 0.0))
            out.append(Relation(a, b, n_a, n_b, n_ab, lift, corr))
    return out


def next_best(scored: ir.Table, lifts: ir.Table, top: int) -> ir.Table:
    """The top categories per profile (``rank`` from 1), from activity and lift."""
    cats = scored.filter(scored.scope != ALL)
    # Only pairs with lift > 1 and categories with some activity contribute (max(·, 0)).
    helpful = lifts.filter(lifts.lift > 1.0)
    lively = cats.filter(cats.activity > 0)
    contrib = lively.join(helpful, lively.scope == helpful.a).select(
        *KEYS, category=helpful.b, part=lively.activity * (helpful.lift - 1.0)
    )
    scores = contrib.group_by([*KEYS, "category"]).aggregate(score=lambda t: t.part.sum())
    held = cats.filter(cats.s_long >= 1.0).select(
        h_pkey=cats.pkey, h_pkind=cats.pkind, h_scope=cats.scope
    )
    open_ = scores.anti_join(
        held,
        [scores.pkey == held.h_pkey, scores.pkind == held.h_pkind, scores.category == held.h_scope],
    ).filter(lambda t: t.score > 0)
    # Equal scores summed in another order can differ in the last bit; rank on the
    # logarithm of the score rounded to 1e-9 (a relative precision, whatever the score's
    # size) so that ties go by name, as SPEC §4 says. Scores here are all > 0.
    window = ibis.window(
        group_by=[open_.pkey, open_.pkind],
        order_by=[ibis.desc(open_.score.ln().round(9)), open_.category],
    )
    ranked = open_.mutate(rank=ibis.row_number().over(window) + 1)
    return ranked.filter(ranked.rank <= top)
