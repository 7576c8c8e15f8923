"""Buy-till-you-die models of customer lifetime value (SPEC §5), one model per module.

- :mod:`clm.models.bgnbd`: BG/NBD (Fader, Hardie & Lee 2005), the default;
- :mod:`clm.models.pareto_nbd`: Pareto/NBD (Schmittlein, Morrison & Colombo 1987);
- :mod:`clm.models.gamma_gamma`: Gamma-Gamma spend (Fader & Hardie 2013);
- :mod:`clm.models.summary`: the (x, t_x, T) patterns the fits work on;
- :mod:`clm.models.fitting`: maximum likelihood and standard errors shared by the three;
- :mod:`clm.models.value`: expected purchases, spend and discounted CLV per customer.

Every function here is pure numpy/scipy over arrays: the engines aggregate the
purchases into per-customer summaries (:mod:`clm.scores.clv`), the models decide.
"""
