"""MCMC diagnostics on aligned draws (ArviZ): R-hat, bulk/tail ESS, divergences."""

from __future__ import annotations

import arviz as az
import numpy as np


def nuts_diagnostics(idata: az.InferenceData, var_names: list[str] | None = None) -> dict:
    """Summary of R-hat (rank-normalised, Vehtari et al. 2021) and ESS over the aligned posterior.

    Returns a JSON-able dict: 'max_r_hat', 'min_ess_bulk', 'min_ess_tail', 'n_divergent',
    'summary' (dict of lists: variable, r_hat, ess_bulk, ess_tail) and 'warnings'.
    """
    post = idata.posterior
    var_names = var_names or [v for v in post.data_vars if post[v].ndim > 2 or v.startswith(("alpha_",))]
    summ = az.summary(idata, var_names=var_names, kind="diagnostics")
    n_div = int(np.asarray(idata.sample_stats["diverging"]).sum()) if "sample_stats" in idata.groups() else 0
    out = {"max_r_hat": float(summ["r_hat"].max()), "min_ess_bulk": float(summ["ess_bulk"].min()),
           "min_ess_tail": float(summ["ess_tail"].min()), "n_divergent": n_div,
           "summary": {"variable": list(summ.index), "r_hat": summ["r_hat"].tolist(),
                       "ess_bulk": summ["ess_bulk"].tolist(), "ess_tail": summ["ess_tail"].tolist()}}
    warns = []
    if out["max_r_hat"] > 1.01:
        warns.append(f"max R-hat {out['max_r_hat']:.3f} > 1.01 after alignment: run longer or more chains.")
    if n_div:
        warns.append(f"{n_div} divergent transitions: raise target_accept or reparameterise.")
    out["warnings"] = warns
    return out
