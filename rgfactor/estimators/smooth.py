"""Fitted quantities of spatially smooth factors (``factor_prior='gp'``): smoothness table, interpolation.

Model: :mod:`rgfactor.generative.gp_factors` (MEFISTO's scale and lengthscale, Velten et al. 2022,
Nat Methods 19:179, on an HSGP basis).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rgfactor.data.coordinates import check_subject_coordinates
from rgfactor.data.checks import normalise_ids
from rgfactor.dims import FACTOR, SUBJECT, factor_labels
from rgfactor.errors import DataError, SpecError

INTERVAL = (0.025, 0.975)

if TYPE_CHECKING:   # xarray is imported where it is used (rgfactor.posterior.idata.prepare)
    import xarray as xr


def check_new_coordinates(coordinates, names, basis) -> np.ndarray:
    """(n, D) coordinates of new subjects in the fitted column order, inside the region the basis covers.

    Raises
    ------
    DataError  if ``coordinates`` is None, its columns differ from the fitted ``names``, a value is not
        finite, or a subject lies outside the region the basis is defined on.
    """
    if coordinates is None:
        raise DataError(f"the model has spatially smooth factors (factor_prior='gp'); pass the new subjects' "
                        f"coordinates {list(names)} (coordinates= of MultiViewData.from_pandas).")
    if isinstance(coordinates, pd.Series):
        coordinates = coordinates.to_frame()
    cols = [str(c) for c in getattr(coordinates, "columns", [])]
    if sorted(cols) != sorted(names):
        raise DataError(f"coordinates have columns {cols}; the model was fitted on {list(names)}.")
    frame = coordinates.set_axis(cols, axis=1)[list(names)]
    ids = normalise_ids(frame.index, "coordinates")
    x = check_subject_coordinates(frame.set_axis(ids, axis=0), ids, training=False).to_numpy()
    basis.check_inside(x, list(ids))
    return x


def resolution_warnings(prior, posterior) -> list[str]:
    """Riutort-Mayol et al.'s (2023) diagnostic for the GP factors: a factor with a clearly spatial part
    (posterior median scale > 0.1) whose median lengthscale is below the shortest the basis resolves."""
    short = prior.basis.shortest_lengthscale()
    ls = np.median(np.asarray(posterior["lengthscale"].values).reshape(-1, posterior.sizes[FACTOR]), axis=0)
    sc = np.median(np.asarray(posterior["scale"].values).reshape(-1, posterior.sizes[FACTOR]), axis=0)
    labels = list(posterior[FACTOR].values)
    return [f"{labels[k]}: posterior median lengthscale {ls[k]:.3g} is at or below {short:.3g}, the shortest the "
            f"basis resolves (n_basis={list(prior.basis.n_basis)}); refit with a lower lengthscale_range (or a larger "
            "n_basis)." for k in np.flatnonzero((sc > 0.1) & (ls <= short * 1.05))]


class SmoothFactorsMixin:
    """``factor_smoothness`` and ``factors_at`` of a factor model fitted with ``factor_prior='gp'``."""

    def _check_gp(self):
        self._check_fitted()
        if self.config_.factor_prior != "gp":
            raise SpecError("this model was fitted with factor_prior='normal': its factors have no smoothness; "
                            "refit with factor_prior='gp' and coordinates in the data.")

    def factor_smoothness(self) -> pd.DataFrame:
        """Per factor, the posterior mean and 95% equal-tailed interval (2.5% and 97.5% quantiles of the
        draws) of its ``lengthscale`` (coordinate units: the distance over which the smooth part decorrelates,
        squared-exponential kernel) and ``scale`` (MEFISTO's scale, Velten et al. 2022: the share of the
        factor's prior variance that is spatial, 0 = not smooth, 1 = purely smooth).

        The lengthscale of a factor with scale near 0 is not identified (its posterior is its prior).
        Intervals from a variational fit (SVI) are those of the mean-field q, typically too narrow.

        Returns
        -------
        DataFrame indexed by factor, columns ``lengthscale``, ``lengthscale_2.5%``, ``lengthscale_97.5%``,
        ``scale``, ``scale_2.5%``, ``scale_97.5%``, and ``shortest_resolved`` (the shortest lengthscale the
        HSGP basis resolves, Riutort-Mayol et al. 2023: a lengthscale near or below it asks for a larger
        ``n_basis``).

        Raises
        ------
        SpecError  for a model fitted with factor_prior='normal'.
        """
        self._check_gp()
        if self.config_.region_views:
            raise SpecError("a multi-region model's smoothness is in region_shares() (between-subject, trend, "
                            "smooth within-subject and independent shares, and the lengthscale).")
        post = self.idata_.posterior
        out = {}
        for name in ("lengthscale", "scale"):
            x = np.asarray(post[name].values).reshape(-1, self.config_.n_factors)
            out[name] = x.mean(axis=0)
            lo, hi = np.quantile(x, INTERVAL, axis=0)
            out[f"{name}_2.5%"], out[f"{name}_97.5%"] = lo, hi
        out["shortest_resolved"] = self.model_.factors.basis.shortest_lengthscale()
        return pd.DataFrame(out, index=pd.Index(factor_labels(self.config_.n_factors), name=FACTOR))

    def factors_at(self, coordinates) -> xr.DataArray:
        """The smooth part of the factors at new locations (posterior mean of sqrt(scale_k) f_k(s)):
        the factors' posterior mean at a location with no data, interpolated by the basis (HSGP or process convolution).

        Parameters
        ----------
        coordinates : DataFrame indexed by location label, the fitted coordinate columns, inside the
            region the basis is defined on (the training box times its boundary factor).

        Returns
        -------
        xarray.DataArray (subject, factor): one row per location.

        Raises
        ------
        SpecError  for a model fitted with factor_prior='normal'; DataError for bad coordinates.
        """
        self._check_gp()
        if self.config_.region_views:
            raise SpecError("factors_at interpolates factors over the subjects' coordinates; a multi-region model's "
                            "region-level factors are in idata_.posterior['Z_region'].")
        prior = self.model_.factors
        x = check_new_coordinates(coordinates, self.config_.coordinate_names, prior.basis)
        w = self.idata_.posterior["gp_weight"].mean(("chain", "draw")).values
        z = np.asarray(prior.smooth_part(x, w))
        labels = list(normalise_ids(coordinates.index, "coordinates"))
        import xarray as xr   # imported where used (rgfactor.posterior.idata.prepare)

        return xr.DataArray(z, dims=[SUBJECT, FACTOR],
                            coords={SUBJECT: labels, FACTOR: factor_labels(self.config_.n_factors)})
