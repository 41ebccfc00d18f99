"""MCMC diagnostics on aligned draws (ArviZ): R-hat, bulk/tail ESS, divergences."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:   # arviz is imported where it is used (rgfactor.posterior.idata.prepare)
    import arviz as az

# Vehtari et al. (2021), Bayesian Analysis 16:667: R-hat < 1.01 and bulk ESS > 100 per chain;
# Betancourt (2016, arXiv:1604.00695): E-BFMI below 0.3 indicates poor exploration
RHAT_LIMIT = 1.01
ESS_PER_CHAIN = 100
BFMI_LIMIT = 0.3


def nuts_diagnostics(idata: az.InferenceData, var_names: list[str] | None = None) -> dict:
    """Summary of R-hat (rank-normalised, Vehtari et al. 2021) and ESS over the aligned posterior.

    Returns a JSON-able dict: 'max_r_hat', 'min_ess_bulk', 'min_ess_tail', 'n_divergent',
    'summary' (dict of lists: variable, r_hat, ess_bulk, ess_tail) and 'warnings'.
    """
    import arviz as az

    post = idata.posterior
    var_names = var_names or list(post.data_vars)
    summ = az.summary(idata, var_names=var_names, kind="diagnostics", round_to="none")
    n_div = int(np.asarray(idata.sample_stats["diverging"]).sum()) if "sample_stats" in idata.groups() else 0
    out = {"max_r_hat": float(summ["r_hat"].max()), "min_ess_bulk": float(summ["ess_bulk"].min()),
           "min_ess_tail": float(summ["ess_tail"].min()), "n_divergent": n_div,
           "summary": {"variable": list(summ.index), "r_hat": summ["r_hat"].tolist(),
                       "ess_bulk": summ["ess_bulk"].tolist(), "ess_tail": summ["ess_tail"].tolist()}}
    n_chains = post.sizes["chain"]
    warns = []
    if out["max_r_hat"] > RHAT_LIMIT:
        worst = summ["r_hat"].idxmax()
        warns.append(f"max R-hat {out['max_r_hat']:.3f} > {RHAT_LIMIT} after alignment (at {worst}): the chains "
                     "disagree; run longer (num_warmup, num_draws) or more chains.")
    if n_div:
        warns.append(f"{n_div} divergent transitions: the sampler missed part of the posterior; the summaries may be "
                     "biased. Check the model (scales, priors) or raise target_accept.")
    if out["min_ess_bulk"] < ESS_PER_CHAIN * n_chains:
        worst = summ["ess_bulk"].idxmin()
        warns.append(f"min bulk ESS {out['min_ess_bulk']:.0f} < {ESS_PER_CHAIN} per chain (at {worst}): too few "
                     "effective draws for reliable summaries; run longer.")
    if "sample_stats" in idata.groups() and "energy" in idata.sample_stats:
        bfmi = np.asarray(az.bfmi(idata))
        out["min_bfmi"] = float(bfmi.min())
        if bfmi.min() < BFMI_LIMIT:
            warns.append(f"low energy BFMI ({bfmi.min():.2f} < {BFMI_LIMIT}) in {int((bfmi < BFMI_LIMIT).sum())} "
                         "chain(s): the sampler explores the posterior's tails poorly (Betancourt 2016); "
                         "reparameterise or run longer.")
    out["warnings"] = warns
    return out
