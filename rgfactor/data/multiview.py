"""MultiViewData: validated views on a common subject axis, with site and covariates."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from rgfactor.data.arrays import ModelArrays, ViewArrays
from rgfactor.data.checks import (check_covariates, check_encoded_covariates, check_id_formats, normalise_ids,
                                  subject_id)
from rgfactor.data.coordinates import check_subject_coordinates
from rgfactor.data.kinds import data_kind
from rgfactor.data.preprocess import Preprocessing, apply_view, fit_view_and_offset
from rgfactor.data.regions import is_region_frame, normalise_pairs, region_grid
from rgfactor.data.validate import (check_likelihoods, check_shared_subjects, check_subject_labels, check_view,
                                   value_dtype)
from rgfactor.dims import SUBJECT
from rgfactor.errors import DataError


@dataclass(frozen=True)
class MultiViewData:
    """Validated multi-view data of a cohort.

    Build with :meth:`from_pandas`. Subjects are the union of the views' subjects; a subject missing
    a view has an all-NaN row there. NaN entries are masked out of the likelihood, never imputed.
    The raw values are kept unchanged; preprocessing (size factors, transforms) is fitted by
    :meth:`fit_preprocessing` and applied by :meth:`to_arrays`, so that it can be re-applied, as
    fitted on a training cohort, to new subjects.

    Attributes
    ----------
    views : dict view name -> DataFrame (subject, feature) of raw values on the union subject index.
    likelihoods : dict view name -> likelihood name.
    subjects : pandas Index of subject IDs (union across views, in order of first appearance).
    site : Series of site labels (str) indexed by subject, or None.
    covariates : DataFrame (subject, covariate) of numeric covariates (categorical ones one-hot
        encoded, first level dropped), or None.
    transforms : dict view name -> 'none' | 'standardize' | 'yeo-johnson' (gaussian views).
    size_factors : 'trimmed_ratio', 'poscounts', 'median_of_ratios' or 'none' (count views).
    coordinates : DataFrame (subject, coordinate) of 1-3 numeric coordinates (x/y, depth, time) for
        spatially smooth factors (``factor_prior='gp'``), or None. Multi-region data: indexed by the full
        (subject, region) grid (:mod:`rgfactor.data.regions`).
    regions : multi-region data: Index of region labels, or None. Region-level views are then indexed by
        the (subject, region) grid (an all-NaN row for a pair without data).
    """

    views: dict
    likelihoods: dict
    subjects: pd.Index
    site: pd.Series | None = None
    covariates: pd.DataFrame | None = None
    transforms: dict | None = None
    size_factors: str = "trimmed_ratio"
    coordinates: pd.DataFrame | None = None
    regions: pd.Index | None = None

    @classmethod
    def from_pandas(cls, views: dict, likelihoods: dict, site: pd.Series | None = None,
                    covariates: pd.DataFrame | None = None, *, transforms: dict | None = None,
                    size_factors: str = "trimmed_ratio", coordinates: pd.DataFrame | None = None) -> MultiViewData:
        """Validate views and build the cohort.

        Parameters
        ----------
        views : dict view name -> DataFrame, index = subject IDs, columns = feature names. Multi-region
            data: a region-level view is indexed by (subject, region) (a 2-level MultiIndex) and then
            ``coordinates`` must be indexed by (subject, region) too (:mod:`rgfactor.data.regions`).
            Count views hold non-negative integers, bernoulli views 0/1; NaN marks a missing entry.
            A view whose columns are all float32 is kept, standardised and handed to the engine in
            float32 (half the memory of float64; docs/scaling.md); any other is converted to float64.
        likelihoods : dict view name -> 'gaussian' | 'negative_binomial' | 'bernoulli' | 'poisson'.
        site : optional Series of site labels (hospital, scanner), index = subject IDs; every
            subject needs one.
        covariates : optional DataFrame, index = subject IDs; numeric columns are standardised when
            fitting, non-numeric ones one-hot encoded (first level dropped). No NaN allowed.
        transforms : dict view name -> transform of a gaussian view: 'standardize' (default),
            'yeo-johnson' (Yeo & Johnson 2000, then standardise) or 'none'.
        size_factors : count views' size factors: 'trimmed_ratio' (default; a trimmed ratio of sums against
            DESeq2's poscounts reference, accurate at 1-5 counts per entry), 'poscounts' (DESeq2's estimator
            for sparse counts), 'median_of_ratios' (Anders & Huber 2010; features positive in every
            subject only) or 'none' (see :func:`rgfactor.data.preprocess.size_factors`).

        Raises
        ------
        DataError  naming the view, feature or subject at fault (see ``rgfactor.data.validate``).

        Nothing passed is modified in place.
        """
        check_likelihoods(views, likelihoods)
        arrays, order = {}, []
        seen = set()
        for name, df in views.items():
            if not isinstance(df, pd.DataFrame):
                raise DataError(f"view '{name}' must be a pandas DataFrame indexed by subject ID, got {type(df).__name__}.")
            if is_region_frame(df):
                ids = normalise_pairs(df, f"view '{name}'").index
            else:
                ids = normalise_ids(df.index, f"view '{name}'")
            labels = ids if ids.nlevels == 1 else pd.Index([f"{a} (region {r})" for a, r in ids])  # for messages
            x = check_view(name, likelihoods[name], df.set_axis(labels, axis=0))
            arrays[name] = pd.DataFrame(x, index=ids, columns=[str(c) for c in df.columns])
            for s in pd.unique(ids.get_level_values(0)):
                if s not in seen:
                    seen.add(s)
                    order.append(s)
        check_id_formats({n: a.index.get_level_values(0) for n, a in arrays.items()})
        check_shared_subjects({n: set(a.index.get_level_values(0)) for n, a in arrays.items()})
        subjects = pd.Index(order, name=SUBJECT)
        by_region = {n: a for n, a in arrays.items() if a.index.nlevels == 2}
        regions = None
        if by_region:
            regions, coordinates = region_grid(by_region, subjects, coordinates)
            arrays.update({n: a.reindex(coordinates.index) for n, a in by_region.items()})
        elif coordinates is not None and is_region_frame(coordinates):
            raise DataError("coordinates are indexed by (subject, region) but no view is: index the region-level "
                            "view(s) by (subject, region) too.")
        arrays = {n: a if n in by_region or a.index.equals(subjects) else a.reindex(subjects) for n, a in arrays.items()}
        site_s = None
        if site is not None:
            site = pd.Series(site).copy()
            site.index = normalise_ids(site.index, "site")
            check_subject_labels("site", site.index, site, subjects)
            site_s = site.reindex(subjects).astype(str).rename("site")
        cov = None
        if covariates is not None:
            covariates = pd.DataFrame(covariates).copy()
            covariates.index = normalise_ids(covariates.index, "covariates")
            check_subject_labels("covariates", covariates.index, covariates, subjects)
            raw = check_covariates(covariates.reindex(subjects))
            cov = pd.get_dummies(raw, drop_first=True, dtype=float).astype(float) if raw.shape[1] else None
            check_encoded_covariates(cov, site_s)
        coords = None
        if regions is not None:
            coords = coordinates
        elif coordinates is not None:
            coords = check_subject_coordinates(coordinates, subjects)
        transforms = dict(transforms or {})
        for name in transforms:
            if name not in views:
                raise DataError(f"transform given for unknown view '{name}'; views are {list(views)}.")
        for name, lik in likelihoods.items():
            transforms.setdefault(name, "standardize" if data_kind(lik) == "real" else "none")
        return cls(views=arrays, likelihoods=dict(likelihoods), subjects=subjects, site=site_s,
                   covariates=cov, transforms=transforms, size_factors=size_factors, coordinates=coords,
                   regions=regions)

    @classmethod
    def from_mudata(cls, mdata, likelihoods: dict, *, site: str | None = None, covariates=None,
                    layers: dict | None = None, transforms: dict | None = None,
                    size_factors: str = "trimmed_ratio", coordinates=None) -> MultiViewData:
        """A cohort from a MuData (or an ``.h5mu`` path): one view per modality named in ``likelihoods``.

        Parameters
        ----------
        mdata : mudata.MuData, or the path of an ``.h5mu`` file (read with ``mudata.read_h5mu``).
        likelihoods : dict modality -> 'gaussian' | 'negative_binomial' | 'bernoulli' | 'poisson'. Only the
            modalities named here become views.
        site : name of the ``mdata.obs`` column of site labels (a modality's own column reads 'rna:batch').
        covariates : list of ``mdata.obs`` column names.
        layers : dict modality -> layer holding the values (e.g. raw counts in 'counts'); default ``X``
            (sparse matrices are made dense).
        transforms, size_factors : as in :meth:`from_pandas`.
        coordinates : the subjects' locations for spatially smooth factors (``factor_prior="gp"``): an
            ``mdata.obsm`` key (e.g. ``"spatial"``), ``"<modality>:<key>"`` for a modality's own ``obsm``
            (e.g. ``"rna:spatial"``), or a list of ``mdata.obs`` columns; see
            :func:`rgfactor.data.scverse.coordinates_frame`. Default None (no coordinates).

        Subjects are the modalities' ``obs_names``; a subject absent from a modality has that view
        missing (masked, not imputed). Needs the optional packages of ``rgfactor[scverse]``.

        Raises
        ------
        DataError  naming the modality, layer, ``obs`` column or ``obsm`` key at fault; then the checks of
            :meth:`from_pandas`.
        """
        from rgfactor.data.scverse import coordinates_frame, mudata_views, on_subjects, read

        mdata = read(mdata, "mudata")
        views, site_s, cov = mudata_views(mdata, likelihoods, site, covariates, layers)
        xy = None if coordinates is None else coordinates_frame(mdata, coordinates, "MuData", mdata.mod)
        return cls.from_pandas(views, likelihoods, site=site_s, covariates=cov, transforms=transforms,
                               size_factors=size_factors, coordinates=on_subjects(xy, views))

    @classmethod
    def from_anndata(cls, adata, likelihoods: dict, *, view_key: str | None = None, layer: str | None = None,
                     site: str | None = None, covariates=None, transforms: dict | None = None,
                     size_factors: str = "trimmed_ratio", coordinates=None) -> MultiViewData:
        """A cohort from an AnnData (or an ``.h5ad`` path) of subjects x features.

        Parameters
        ----------
        adata : anndata.AnnData, or the path of an ``.h5ad`` file.
        likelihoods : dict view -> likelihood. Without ``view_key``: one entry, the whole matrix is that view.
        view_key : ``var`` column assigning each feature to a view (e.g. 10x's 'feature_types'); the views
            are the values named in ``likelihoods``.
        layer : layer holding the values (default ``X``).
        site, covariates : ``adata.obs`` column names (a str; a list of str).
        transforms, size_factors : as in :meth:`from_pandas`.
        coordinates : the subjects' locations for spatially smooth factors (``factor_prior="gp"``): an
            ``adata.obsm`` key (squidpy/scanpy keep positions in ``obsm["spatial"]``; array columns are
            named ``spatial1``, ``spatial2``, ...), one ``obs`` column (a str that is no ``obsm`` key, e.g.
            ``"time"``) or a list of ``obs`` columns (e.g. ``["x", "y"]``); see
            :func:`rgfactor.data.scverse.coordinates_frame`. Default None (no coordinates).

        Raises
        ------
        DataError  naming the view, ``var``/``obs`` column, ``obsm`` key or layer at fault; then the checks of
            :meth:`from_pandas`.
        """
        from rgfactor.data.scverse import anndata_views, coordinates_frame, on_subjects, read

        adata = read(adata, "anndata")
        views, site_s, cov = anndata_views(adata, likelihoods, view_key, layer, site, covariates)
        xy = None if coordinates is None else coordinates_frame(adata, coordinates, "AnnData")
        return cls.from_pandas(views, likelihoods, site=site_s, covariates=cov, transforms=transforms,
                               size_factors=size_factors, coordinates=on_subjects(xy, views))

    # ------------------------------------------------------------------ accessors
    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(self.views)

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    def __repr__(self) -> str:
        parts = [f"{n}: {df.shape[1]} features, {int(df.notna().any(axis=1).groupby(level=0).any().sum())} subjects"
                 + (f" x {len(self.regions)} regions" if df.index.nlevels == 2 else "") + f" ({self.likelihoods[n]})"
                 for n, df in self.views.items()]
        site = f", {self.site.nunique()} sites" if self.site is not None else ""
        if self.coordinates is not None:
            site += f", coordinates ({', '.join(map(str, self.coordinates.columns))})"
        return f"MultiViewData({self.n_subjects} subjects{site}; " + "; ".join(parts) + ")"

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the data as fitted: every view's values, subject IDs and feature names, the
        likelihoods and transforms, the site and the covariates. Recorded in a run's spec.toml so that a
        result can be traced to the exact data it came from."""
        import hashlib

        h = hashlib.sha256()
        for name in sorted(self.views):
            df = self.views[name]
            h.update(f"{name}|{self.likelihoods[name]}|{(self.transforms or {}).get(name)}".encode())
            h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
            h.update("|".join(map(str, df.columns)).encode())
        for extra in (self.site, self.covariates, self.coordinates):
            if extra is not None:
                h.update(pd.util.hash_pandas_object(extra, index=True).to_numpy().tobytes())
        return h.hexdigest()

    def subset(self, subjects) -> MultiViewData:
        """The cohort restricted to ``subjects`` (IDs, in the given order), every view at once.

        Preprocessing is not copied: a subset fits its own (``fit_preprocessing``), so nothing of the
        left-out subjects informs it. Covariates keep their raw encoding.

        Raises
        ------
        DataError  if a subject ID is unknown or listed twice.
        """
        subjects = pd.Index([subject_id(s) for s in subjects], name=SUBJECT)
        unknown = subjects.difference(self.subjects)
        if len(unknown):
            raise DataError(f"subset: unknown subject(s) {list(unknown[:5])}; the cohort has {self.n_subjects}.")
        if subjects.has_duplicates:
            raise DataError(f"subset: subject(s) listed twice, e.g. '{subjects[subjects.duplicated()][0]}'.")
        rows = subjects if self.regions is None else pd.MultiIndex.from_product([subjects, self.regions],
                                                                                  names=self.coordinates.index.names)
        return replace(self, views={n: df.loc[rows if df.index.nlevels == 2 else subjects]
                                    for n, df in self.views.items()}, subjects=subjects,
                       site=None if self.site is None else self.site.loc[subjects],
                       covariates=None if self.covariates is None else self.covariates.loc[subjects],
                       coordinates=None if self.coordinates is None else self.coordinates.loc[rows])

    def select_views(self, names) -> MultiViewData:
        """The cohort with only the views ``names`` (in that order), same subjects, site, covariates and
        coordinates.

        Raises
        ------
        DataError  for a name that is not a view of the cohort.
        """
        names = list(names)
        unknown = [n for n in names if n not in self.views]
        if unknown:
            raise DataError(f"unknown view(s) {unknown}; the cohort has views {list(self.view_names)}.")
        transforms = self.transforms or {}
        return replace(self, views={n: self.views[n] for n in names},
                       likelihoods={n: self.likelihoods[n] for n in names},
                       transforms={n: transforms[n] for n in names if n in transforms})

    # ------------------------------------------------------------------ preprocessing
    def fit_preprocessing(self) -> Preprocessing:
        """Fit per-view preprocessing on these subjects (drops constant features with a DataWarning)."""
        return self._fit_preprocessing()[0]

    def fit_arrays(self) -> tuple[Preprocessing, ModelArrays]:
        """``(prep, self.to_arrays(prep))`` for ``prep = self.fit_preprocessing()``, with the training
        subjects' size factors computed once (fitting them is half of a count view's preprocessing)."""
        prep, log_offsets = self._fit_preprocessing()
        return prep, self._arrays(prep, log_offsets)

    def _fit_preprocessing(self) -> tuple[Preprocessing, dict]:
        fitted = {n: fit_view_and_offset(n, self.likelihoods[n], df.to_numpy(), list(df.columns), self.transforms[n],
                                         self.size_factors, subjects=list(df.index)) for n, df in self.views.items()}
        vps = {n: vp for n, (vp, _) in fitted.items()}
        for n, df in self.views.items():
            if df.index.nlevels == 2:
                vps[n].level = "region"
        prep = Preprocessing(views=vps)
        if self.site is not None:
            prep.sites = sorted(self.site.unique().tolist())
        if self.covariates is not None:
            c = self.covariates.to_numpy()
            sd = c.std(axis=0)
            prep.covariate_names = list(self.covariates.columns)
            prep.covariate_mean = c.mean(axis=0).tolist()
            prep.covariate_sd = np.where(sd > 0, sd, 1.0).tolist()
        return prep, {n: off for n, (_, off) in fitted.items() if off is not None}

    def to_arrays(self, preprocessing: Preprocessing | None = None) -> ModelArrays:
        """Model-ready arrays; applies ``preprocessing`` (fitted here when None).

        With a preprocessing fitted on another cohort, features are matched by name: features this
        cohort lacks become missing (masked); a view the preprocessing lacks raises DataError; an
        unseen site gets code -1 (no site effect, population average).
        """
        if preprocessing is None:
            return self.fit_arrays()[1]
        return self._arrays(preprocessing, {})

    def _arrays(self, prep: Preprocessing, log_offsets: dict) -> ModelArrays:
        """:meth:`to_arrays` with ``log_offsets`` (view -> training log size factors, the same subjects in the
        same order) used instead of computed again."""
        views = []
        for name, vp in prep.views.items():
            if name in self.views:
                df = self.views[name]
                df = df if list(df.columns) == vp.features else df.reindex(columns=vp.features)
            else:
                rows = self.coordinates.index if vp.level == "region" else self.subjects
                df = pd.DataFrame(np.nan, index=rows, columns=vp.features)
            y, log_offset = apply_view(vp, df.to_numpy(dtype=value_dtype(df)), subjects=list(df.index), view=name,
                                       log_offset=log_offsets.get(name))
            mask = ~np.isnan(y)
            y = y if mask.all() else np.where(mask, y, 0.0)   # no copy of a complete view
            views.append(ViewArrays(name=name, likelihood=vp.likelihood, y=y, mask=mask,
                                    log_offset=log_offset, centre=np.asarray(vp.centre), scale=np.asarray(vp.scale),
                                    features=tuple(vp.features), level=vp.level))
        for name in self.views:
            if name not in prep.views:
                raise DataError(f"view '{name}' was not part of the fitted model (views: {list(prep.views)}).")
        site = None
        if prep.sites:
            if self.site is None:
                site = np.full(self.n_subjects, -1)
            else:
                lookup = {s: i for i, s in enumerate(prep.sites)}
                site = np.array([lookup.get(s, -1) for s in self.site], dtype=int)
        cov = None
        if prep.covariate_names:
            if self.covariates is None:
                raise DataError(f"the model was fitted with covariates {prep.covariate_names}; pass them for these "
                                "subjects too.")
            c = self.covariates.reindex(columns=prep.covariate_names, fill_value=0.0).to_numpy(dtype=float)
            cov = (c - np.asarray(prep.covariate_mean)) / np.asarray(prep.covariate_sd)
        coords = None if self.coordinates is None else self.coordinates.to_numpy(dtype=float)
        return ModelArrays(views=tuple(views), subjects=tuple(self.subjects), site=site, sites=tuple(prep.sites),
                           covariates=cov, covariate_names=tuple(prep.covariate_names), coordinates=coords,
                           coordinate_names=() if self.coordinates is None else tuple(self.coordinates.columns),
                           regions=() if self.regions is None else tuple(self.regions))
