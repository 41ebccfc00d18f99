"""How the draws of a fit are laid out in InferenceData, and what they are (group attributes).

ArviZ expects MCMC output: several chains of dependent draws. A variational fit (the closed-form CAVI
engine, NumPyro SVI) yields S independent draws from the fitted approximation q instead. Stored as one
chain of S draws, every ArviZ diagnostic warns ("Shape validation failed ... chains=2") and R-hat is
NaN. We therefore split the S independent draws from q, in the order drawn, into ``n_chains``
*pseudo-chains* of S / n_chains draws each, and say so in the attributes of every group that has
(chain, draw) dims:

* ``inference_library`` / ``inference_library_version``: who produced the draws ('rgfactor' for the
  closed-form engine, 'numpyro' for SVI and NUTS), as ArviZ's own converters record it;
* ``method``: the engine ('cavi', 'svi', 'nuts');
* ``draws_from``: 'variational approximation q (independent draws)' or 'MCMC (NUTS)';
* ``chain_meaning``: for variational fits, that the chains are pseudo-chains, how many draws they
  hold, and that R-hat is not a convergence diagnostic for them.

For draws from q, ESS equals the number of draws up to Monte Carlo noise and R-hat compares
identically distributed groups (it is 1 up to noise whatever the quality of q): neither says whether
the optimisation converged or how good q is; the ELBO trace does the first, nothing cheap does the
second. MCMC draws keep their chains unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rgfactor.dims import CHAIN, DRAW

if TYPE_CHECKING:   # imported where they are used (rgfactor.posterior.idata.prepare)
    import arviz as az
    import xarray as xr

VARIATIONAL = ("cavi", "svi")
PSEUDO_CHAINS = 4          # ArviZ's diagnostics need >= 2 chains of >= 4 draws
LIBRARY = {"cavi": "rgfactor", "svi": "numpyro", "nuts": "numpyro"}
DRAWS_FROM = {"cavi": "variational approximation q (independent draws)",
              "svi": "variational approximation q (independent draws)",
              "nuts": "MCMC (NUTS), draws aligned across chains"}


def n_pseudo_chains(n_draws: int, preferred: int = PSEUDO_CHAINS) -> int:
    """The number of pseudo-chains for ``n_draws`` independent draws: the largest of
    ``preferred, ..., 2`` that divides ``n_draws`` with >= 4 draws per chain (no draw is dropped);
    1 when none does (e.g. a prime number of draws)."""
    for c in range(preferred, 1, -1):
        if n_draws % c == 0 and n_draws // c >= 4:
            return c
    return 1


def _split(ds: xr.Dataset, n_chains: int) -> xr.Dataset:
    """(1, S, ...) -> (n_chains, S / n_chains, ...) for every variable with (chain, draw) dims."""
    import xarray as xr

    out = {}
    for name, da in ds.data_vars.items():
        if da.dims[:2] != (CHAIN, DRAW):
            out[name] = da
            continue
        vals = np.asarray(da.values)
        s = vals.shape[1] // n_chains
        vals = vals.reshape((vals.shape[0] * n_chains, s) + vals.shape[2:])
        out[name] = xr.DataArray(vals, dims=da.dims,
                                 coords={k: v for k, v in da.coords.items() if CHAIN not in v.dims and DRAW not in v.dims},
                                 attrs=da.attrs)
    new = xr.Dataset(out, attrs=ds.attrs)
    n_chain = new.sizes.get(CHAIN)
    if n_chain is not None:
        new = new.assign_coords({CHAIN: np.arange(n_chain), DRAW: np.arange(new.sizes[DRAW])})
    return new


def layout_draws(idata: az.InferenceData, method: str | None) -> az.InferenceData:
    """Lay out the draws of a fit for ArviZ and record where they come from (module docstring).

    Parameters
    ----------
    idata : InferenceData as built from the engine's draws; variational draws have one chain.
    method : the engine that ran ('cavi', 'svi', 'nuts'); None records 'unknown' and keeps the layout.

    Returns
    -------
    A new InferenceData (``idata`` is not modified): variational fits with one chain of S draws get
    :func:`n_pseudo_chains` (S) pseudo-chains in every group with (chain, draw) dims; every such
    group gets the attributes listed in the module docstring.
    """
    method = method or "unknown"
    groups = {}
    for g in idata.groups():
        groups[g] = getattr(idata, g)
    has_draws = [g for g, ds in groups.items() if CHAIN in ds.dims and DRAW in ds.dims]
    attrs = {"inference_library": LIBRARY.get(method, "unknown"), "method": method,
             "draws_from": DRAWS_FROM.get(method, "unknown")}
    attrs["inference_library_version"] = _version(attrs["inference_library"])
    if method in VARIATIONAL and has_draws:
        first = groups[has_draws[0]]
        n_draws = first.sizes[DRAW] * first.sizes[CHAIN]
        c = n_pseudo_chains(n_draws) if first.sizes[CHAIN] == 1 else first.sizes[CHAIN]
        if first.sizes[CHAIN] == 1 and c > 1:
            for g in has_draws:
                groups[g] = _split(groups[g], c)
        attrs["chain_meaning"] = (
            f"pseudo-chains: {n_draws} independent draws from q, in the order drawn, split into {c} groups of "
            f"{n_draws // c}; R-hat compares identically distributed groups and is not a convergence diagnostic, "
            "ESS equals the number of draws up to Monte Carlo noise; see diagnostics (ELBO) for convergence")
    for g in has_draws:
        groups[g] = groups[g].assign_attrs(attrs)
    import arviz as az

    return az.InferenceData(**groups)


def _version(library: str) -> str:
    if library == "numpyro":
        import numpyro

        return numpyro.__version__
    if library == "rgfactor":
        import rgfactor

        return rgfactor.__version__
    return ""


def is_variational(idata: az.InferenceData) -> bool:
    """Whether the posterior draws are independent draws from a variational approximation (by the
    ``method`` attribute that :func:`layout_draws` writes; False when it is absent)."""
    return idata.posterior.attrs.get("method") in VARIATIONAL
