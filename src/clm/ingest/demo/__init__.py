"""The demo world: a synthetic shop population to try clm on (``clm demo``).

:func:`generate` simulates the two years before an as-of date for a population
of profiles; :func:`build` imports it into a workspace through the public API
and scores it. The simulation is vectorized (no loop over purchases or
profiles), deterministic for a seed, and every id in it is a deterministic
string, so building the same world twice imports nothing new.

What it models
--------------
- **Profiles** of three kinds: anonymous visitors (visits and product views
  under an ``anonymous_id`` only), known visitors (left an email, never bought)
  and customers (bought at least once).
- **Acquisition**: first contacts spread over the two years by a growing
  business (the acquisition rate quadruples) with a seasonal calendar: a
  Black-Friday-to-Christmas peak, a summer bump, a January dip, busier weekends.
- **Purchases**: while active, a customer orders as a Poisson process whose
  rate is a latent activity level drawn from a Gamma distribution (the
  heterogeneity of Pareto/NBD, Schmittlein, Morrison & Colombo 1987), modulated
  by the calendar. About a fifth of customers buy once and never again.
- **Lapsing and reactivation**: an exponential lifetime (a constant churn
  hazard) ends the active period; some lapsed customers come back after a
  dormancy for a second, shorter active period. A cohort of formerly heavy
  buyers stopped between three and twelve months ago: the customers the
  "Cannot-lose" and "At Risk" segments are about.
- **Categories**: each profile has Dirichlet preferences over the categories;
  latent traits make pairs bought together (fashion and beauty, home and
  garden, toys and books); preferences drift from an early to a late vector
  over the two years (beauty and travel grow, electronics and books shrink).
- **Orders** of 1-4 lines; a later line is often the complement of the first
  (a lipstick with the dress). Line amounts are lognormal per category, scaled
  by a personal spend level that rises with income. About 3% of lines are
  refunded later, as a negative line in an order of its own.
- **Sessions**: a visit (and product views) before each order, browsing
  sessions while active and, rarely, after lapsing; the anonymous visits of
  customers and known visitors before they identified themselves are linked by
  the customer import. Local time of day follows a diurnal curve in the
  profile's time zone (standard offsets; daylight saving time is ignored).
- **The seed customer** (:data:`SEED_CUSTOMER_ID`): a 38-year-old woman with an
  income of 65,000 who rarely uses her credit card; a fashion buyer for two
  years whose beauty purchases and views accelerate over the last three months.
"""

from __future__ import annotations

from clm.ingest.demo.seed import SEED_CUSTOMER_ID
from clm.ingest.demo.world import DEFAULT_AS_OF, DemoWorld, build, generate

__all__ = ["DEFAULT_AS_OF", "SEED_CUSTOMER_ID", "DemoWorld", "build", "generate"]
