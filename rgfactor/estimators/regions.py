"""Fitted quantities of multi-region factors: per-factor variance shares of the region-level factors.

Model and estimand: :mod:`rgfactor.generative.region_factors` (subject-level factors plus a smooth
within-subject deviation over the region coordinate; MEFISTO's GP factor, Velten et al. 2022, made
hierarchical; finite-population variance shares, Gelman 2005).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd

from rgfactor.dims import FACTOR, factor_labels
from rgfactor.errors import SpecError
from rgfactor.generative.region_factors import SHARE_PARTS, variance_shares

INTERVAL = (0.025, 0.975)
SHARE_INPUTS = ("Z", "Z_region", "region_scale", "region_weight", "trend_weight")


class RegionFactorsMixin:
    """``region_shares`` of a factor model fitted to multi-region data."""

    def _check_regions(self):
        self._check_fitted()
        if not self.config_.region_views:
            raise SpecError("this model has no region-level views; region_shares applies to multi-region data "
                            "(views indexed by (subject, region)).")

    def region_share_draws(self) -> np.ndarray:
        """(chain, draw, 4, K) finite-population variance shares of Z_region per draw (parts
        :data:`rgfactor.generative.region_factors.SHARE_PARTS`)."""
        self._check_regions()
        post, const = self.idata_.posterior, self.idata_.constant_data
        observed = np.any([~np.isnan(np.asarray(self.idata_.observed_data[v])).all(-1)
                           for v in self.config_.region_views], axis=0)                   # (S, R)
        coords = np.asarray(const["coordinates"])
        data = {"coordinates": jnp.asarray(coords.reshape(-1, coords.shape[-1])), "region_observed": jnp.asarray(observed)}
        phi = np.asarray(self.model_.factors.phi(data), dtype=float)
        return variance_shares({k: np.asarray(post[k].values, dtype=float) for k in SHARE_INPUTS}, phi, observed)

    def region_shares(self) -> pd.DataFrame:
        """Per factor, how the variance of its region-level factor Z_region splits between subjects, a
        population trend over the region coordinate, a smooth within-subject deviation and an independent
        regional part: posterior means and 95% equal-tailed intervals (2.5%, 97.5% quantiles over the
        draws) of the finite-population shares (:func:`rgfactor.generative.region_factors.variance_shares`),
        plus the lengthscale (coordinate units) of the smooth parts.

        With few regions per subject the smooth/independent split is weakly identified (wide intervals;
        the module docstring of :mod:`rgfactor.generative.region_factors`). Intervals from SVI are those
        of the mean-field q, typically too narrow.

        Returns
        -------
        DataFrame indexed by factor; columns ``<part>``, ``<part>_2.5%``, ``<part>_97.5%`` for the parts
        between_subject, population_trend, smooth_within, independent, and the same for ``lengthscale``.

        Raises
        ------
        SpecError  for a model without region-level views.
        """
        shares = self.region_share_draws()
        k = self.config_.n_factors
        out = {}
        series = {p: shares[..., i, :].reshape(-1, k) for i, p in enumerate(SHARE_PARTS)}
        series["lengthscale"] = np.asarray(self.idata_.posterior["lengthscale"].values).reshape(-1, k)
        for name, x in series.items():
            lo, hi = np.quantile(x, INTERVAL, axis=0)
            out[name], out[f"{name}_2.5%"], out[f"{name}_97.5%"] = x.mean(axis=0), lo, hi
        return pd.DataFrame(out, index=pd.Index(factor_labels(k), name=FACTOR))
