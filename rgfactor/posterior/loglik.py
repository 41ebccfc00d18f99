"""Pointwise log-likelihood per view and subject over posterior draws."""

from __future__ import annotations

import jax
import numpy as np

from rgfactor.generative.model import Model


def subject_log_likelihood(draws: dict, data: dict, model: Model, chunk: int = 25) -> dict[str, np.ndarray]:
    """log p(y_n^(m) | theta) summed over the observed features of each subject, per view.

    The likelihood's parameters are those the model declares for the view (loadings, term
    coefficients, nuisance), read by :meth:`Model.view_params`.

    Returns dict view -> (chain, draw, subject); a subject without the view has 0 there (this is
    the per-subject quantity that PSIS-LOO by subject sums over views).
    """
    out = {}
    for view in model.view_names:
        names = model.view_inputs(view)

        def one(draw, view=view):
            ll = model.log_likelihood(view, draw, data, model.view_factors(view, draw)).sum(-1)
            return ll.reshape(model.n_subjects(data), -1).sum(-1)   # a region-level view: summed over regions

        c, s = draws["Z"].shape[:2]
        flat = {k: draws[k].reshape((c * s,) + draws[k].shape[2:]) for k in names}
        f = jax.jit(jax.vmap(one))
        parts = [np.asarray(f({k: v[i:i + chunk] for k, v in flat.items()})) for i in range(0, c * s, chunk)]
        out[view] = np.concatenate(parts).reshape(c, s, -1)
    return out


def data_from_idata(idata) -> dict:
    """The model data pytree (:func:`rgfactor.generative.model.model_data`) of a fit, rebuilt from its
    ``observed_data`` (model-scale values, NaN = missing) and ``constant_data`` groups."""
    import jax.numpy as jnp

    obs, const = idata.observed_data, idata.constant_data
    views = {}
    observed = []
    for name in obs.data_vars:
        y = np.asarray(obs[name])
        mask = ~np.isnan(y)
        if y.ndim == 3:   # a region-level view (subject, region, feature): the model's (subject x region) rows
            observed.append(mask.any(-1))
            y, mask = y.reshape(-1, y.shape[-1]), mask.reshape(-1, y.shape[-1])
        views[name] = {"y": jnp.asarray(np.where(mask, y, 0.0), jnp.float32), "mask": jnp.asarray(mask),
                       "log_offset": jnp.asarray(np.asarray(const[f"log_offset_{name}"]).reshape(-1), jnp.float32)}
    data = {"views": views}
    if observed:
        data["region_observed"] = jnp.asarray(np.any(observed, axis=0))
    if "site_code" in const:
        data["site"] = jnp.asarray(const["site_code"], jnp.int32)
    if "covariates" in const:
        data["covariates"] = jnp.asarray(const["covariates"], jnp.float32)
    return data


def add_log_likelihood(idata, model: Model, chunk: int = 25):
    """Add (once) the ``log_likelihood`` group to ``idata``: per view, log p(y_n^(m) | theta) summed
    over the subject's observed features, dims (chain, draw, subject), float32. Returns the group.

    Computed on demand (LOO, ``compare``, a report), in chunks of ``chunk`` draws, from the fit's
    own observed and constant data; a fit saved with it keeps it.
    """
    import xarray as xr

    if "log_likelihood" in idata.groups():
        return idata.log_likelihood
    post = idata.posterior
    draws = {k: np.asarray(post[k]) for k in post.data_vars}
    loglik = subject_log_likelihood(draws, data_from_idata(idata), model, chunk=chunk)
    coords = {"chain": post.chain.values, "draw": post.draw.values, "subject": post.subject.values}
    group = xr.Dataset({v: (("chain", "draw", "subject"), x.astype(np.float32)) for v, x in loglik.items()},
                       coords=coords)
    idata.add_groups(log_likelihood=group)
    return idata.log_likelihood
