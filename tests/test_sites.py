"""Site location/scale effects after the fit: harmonised features, new sites, variance components,
agreement with neuroCombat, and the site-artefact association (issue 16)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import rgfactor as rgf
from rgfactor.data.multiview import MultiViewData
from rgfactor.errors import DataWarning, SpecError
from rgfactor.simulate import multiview

VIEWS = {"rad": ("gaussian", 40), "rad2": ("gaussian", 30)}


def _subset(data: MultiViewData, rows) -> MultiViewData:
    subjects = data.subjects[rows] if not isinstance(rows, list) else rows
    return MultiViewData.from_pandas({v: df.loc[df.index.intersection(subjects)] for v, df in data.views.items()},
                                     likelihoods=data.likelihoods, site=data.site.loc[subjects])


def _oracle(data, truth, view):
    """The truth's harmonised values: biological mean + the residual rescaled from its site's noise sd."""
    bio = truth["intercept"][view][None, :] + truth["Z"] @ truth["W"][view].T
    y = data.views[view].loc[truth["subjects"]].to_numpy()
    site, kappa = truth["site"], truth["site_scale"][view]
    pooled = (np.bincount(site) / len(site)) @ (1.0 / kappa)
    return bio + (y - bio - truth["site_effect"][view][site]) * np.sqrt(kappa[site] * pooled)


def _median_corr(a, b):
    """Median over features of the correlation on the entries observed in both."""
    ok = ~np.isnan(a) & ~np.isnan(b)
    return np.median([np.corrcoef(a[ok[:, j], j], b[ok[:, j], j])[0, 1] for j in range(a.shape[1])])


@pytest.fixture(scope="module")
def site_cohort():
    data, truth = multiview(300, 3, views=VIEWS, n_sites=3, site_effect_sd=1.0, site_scale_sd=0.5, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(3, site_effects=True, random_state=0).fit(data)
    return data, truth, model


def test_harmonize_removes_site_location_and_scale_and_keeps_biology(site_cohort):
    data, truth, model = site_cohort
    h = model.harmonize(data)
    assert set(h) == set(VIEWS)
    for view in VIEWS:
        raw = data.views[view].loc[truth["subjects"]]
        hv = h[view].loc[truth["subjects"], raw.columns]
        site = truth["site"]
        spread = lambda df: (df.groupby(site).mean().std() / df.std()).median()   # noqa: E731
        log_sd = lambda df: np.abs(np.log(df.groupby(site).std() / df.std())).mean().median()   # noqa: E731
        assert spread(hv) < 0.1 * spread(raw)
        assert log_sd(hv) < 0.25 * log_sd(raw)
        assert _median_corr(hv.to_numpy(), _oracle(data, truth, view)) > 0.95
    # nothing the user passed is modified
    assert not data.views["rad"].equals(h["rad"])


def test_harmonize_new_site_from_its_own_subjects(site_cohort):
    data, truth, _ = site_cohort
    seen = [s for s, c in zip(truth["subjects"], truth["site"]) if c < 2]
    new = [s for s, c in zip(truth["subjects"], truth["site"]) if c == 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(3, site_effects=True, random_state=0).fit(_subset(data, seen))
        h = model.harmonize(_subset(data, new))
    h_seen = model.harmonize(_subset(data, seen))["rad"].loc[seen, data.views["rad"].columns].to_numpy()
    got = h["rad"].loc[new, data.views["rad"].columns].to_numpy()
    idx = {s: i for i, s in enumerate(truth["subjects"])}
    rows_new, rows_seen = [idx[s] for s in new], [idx[s] for s in seen]
    oracle = _oracle(data, truth, "rad")
    assert _median_corr(got, oracle[rows_new]) > 0.9
    # the new site's location is removed: relative to the true biological mean, its harmonised values sit
    # where the seen sites' do (harmonised data are centred on the fit's reference, not the truth's)
    bio = truth["intercept"]["rad"][None, :] + truth["Z"] @ truth["W"]["rad"].T
    offset_new = np.nanmean(got - bio[rows_new], axis=0)
    offset_seen = np.nanmean(h_seen - bio[rows_seen], axis=0)
    sd = np.nanstd(oracle, axis=0)
    assert np.median(np.abs(offset_new - offset_seen) / sd) < 0.25
    with pytest.warns(DataWarning, match="site the fit did not see"):
        model.harmonize(_subset(data, new[:3]))


def test_harmonize_counts_by_quantile_matching():
    """Count views: adjusted integer counts (ComBat-seq's quantile matching); the site shift of log
    counts is removed, the biology (factor scores) kept."""
    data, truth = multiview(200, 2, views={"rna": ("negative_binomial", 30), "rad": ("gaussian", 20)}, n_sites=2,
                            site_effect_sd=1.0, missing_entries=0.0, missing_views=0.0, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(2, site_effects=True, random_state=0).fit(data)
        h = model.harmonize(data)["rna"].loc[truth["subjects"], data.views["rna"].columns]
    raw = data.views["rna"].loc[truth["subjects"]]
    assert (h.to_numpy() >= 0).all() and np.array_equal(h.to_numpy(), np.round(h.to_numpy()))
    site = truth["site"]
    shift = lambda df: np.abs(np.log1p(df).groupby(site).mean().diff().iloc[1]).median()   # noqa: E731
    assert shift(h) < 0.3 * shift(raw)
    # the biological signal survives: log counts still correlate with the true linear predictor's factor part
    fac = truth["Z"] @ truth["W"]["rna"].T
    loaded = fac.std(axis=0) > 0                                 # features some factor loads on
    assert loaded.sum() >= 5
    h, raw, fac = h.to_numpy()[:, loaded], raw.to_numpy()[:, loaded], fac[:, loaded]
    assert _median_corr(np.log1p(h), fac) > 0.8 * _median_corr(np.log1p(raw), fac)


def test_harmonize_yeo_johnson_view_stays_in_range():
    """Skewed features under Yeo-Johnson: harmonised raw values are finite and within the data's range
    (the inverse transform is unbounded beyond the transform's image)."""
    rng = np.random.default_rng(4)
    n, site = 120, np.repeat([0, 1], 60)
    z = rng.normal(size=n)
    raw = np.exp(0.6 * z[:, None] + 0.8 * site[:, None] + rng.normal(0, 0.7, (n, 12)))     # log-normal, site-shifted
    subjects = [f"p{i}" for i in range(n)]
    data = MultiViewData.from_pandas({"rad": pd.DataFrame(raw, index=subjects)}, likelihoods={"rad": "gaussian"},
                                     site=pd.Series(site.astype(str), index=subjects),
                                     transforms={"rad": "yeo-johnson"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(1, site_effects=True, random_state=0).fit(data)
        h = model.harmonize(data)["rad"].to_numpy()
    assert np.isfinite(h).all() and (h >= raw.min() - 1e-9).all() and (h <= raw.max() + 1e-9).all()
    # the site shift (a factor exp(0.8) = 2.2 in the raw scale) is gone from the log medians
    shift = np.abs(np.median(np.log(h[site == 1]), axis=0) - np.median(np.log(h[site == 0]), axis=0))
    assert np.median(shift) < 0.25


def test_harmonize_needs_site_effects():
    data, _ = multiview(40, 2, views={"rad": ("gaussian", 8)}, n_sites=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(2, site_effects=False, max_iter=20).fit(data)
    with pytest.raises(SpecError, match="site effects"):
        model.harmonize(data)


def test_variance_components_track_the_true_site_share(site_cohort):
    data, truth, model = site_cohort
    vc = model.variance_components()
    share = vc["share_rad"]
    np.testing.assert_allclose(share.sel(statistic="mean").sum("component"), 1.0, atol=1e-6)
    assert (share.sel(statistic="hdi_3%") <= share.sel(statistic="hdi_97%")).all()
    assert ((share >= 0) & (share <= 1)).all()
    # true shares on the data scale: site sum_s p_s (u_s - ubar)^2; factors w' Cov(Z) w; noise sigma^2 E[1/kappa]
    site = truth["site"]
    p = np.bincount(site) / len(site)
    u = truth["site_effect"]["rad"]
    v_site = p @ (u - p @ u) ** 2
    w = truth["W"]["rad"]
    v_fac = np.einsum("dk,kl,dl->d", w, np.cov(truth["Z"].T, bias=True), w)
    resid = data.views["rad"].loc[truth["subjects"]].to_numpy() - truth["intercept"]["rad"] - truth["Z"] @ w.T \
        - u[site]
    v_res = np.nanvar(resid, axis=0)
    true_icc = v_site / (v_site + v_fac + v_res)
    rho = stats.spearmanr(vc["site_icc_rad"].sel(statistic="mean"), true_icc).statistic
    assert rho > 0.8


def _artefact_cohort(n=400, seed=0):
    """Two sites; site 1 shifts radiomic features 0-19 by +1 sd and has mutation M at 70% against 20%;
    the radiomic factors are unrelated to M."""
    rng = np.random.default_rng(seed)
    subjects = [f"p{i:03d}" for i in range(n)]
    site = rng.integers(0, 2, n)
    z = rng.normal(size=(n, 2))
    w = rng.normal(size=(60, 2))
    rad = z @ w.T + rng.normal(size=(n, 60))
    rad[:, :20] += 1.0 * np.sqrt(w[:20] ** 2 @ np.ones(2) + 1)[None, :] * site[:, None]
    mut = (rng.random((n, 8)) < 0.3).astype(float)
    m = (rng.random(n) < np.where(site == 1, 0.7, 0.2)).astype(float)
    views = {"radiomics": pd.DataFrame(rad, index=subjects, columns=[f"r{j}" for j in range(60)]),
             "mutations": pd.DataFrame(np.column_stack([m, mut]), index=subjects,
                                       columns=["M"] + [f"g{j}" for j in range(8)])}
    data = MultiViewData.from_pandas(views, likelihoods={"radiomics": "gaussian", "mutations": "bernoulli"},
                                     site=pd.Series(np.where(site == 1, "B", "A"), index=subjects))
    return data, m


@pytest.mark.slow
def test_site_artefact_association_disappears_with_site_effects():
    """A site that shifts radiomic features and the mutation frequency, with no biological link: without
    site effects a factor tracks the mutation; with them no factor does (AUC of the best factor)."""
    from sklearn.metrics import roc_auc_score

    data, m = _artefact_cohort()
    best = {}
    for site_effects in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = rgf.GFA(3, site_effects=site_effects, random_state=0).fit(data)
        z = fit.factors_.sel(subject=list(data.subjects)).values
        aucs = [roc_auc_score(m, z[:, k]) for k in range(z.shape[1])]
        best[site_effects] = max(max(a, 1 - a) for a in aucs)
    assert best[False] > 0.7
    assert best[True] < 0.6


def test_harmonize_agrees_with_neurocombat_without_biology():
    """Reduction: one view, no true factors, no covariates: the harmonised features equal neuroCombat's
    non-empirical-Bayes output (Johnson et al. 2007 with eb=False) up to the prior's shrinkage."""
    neurocombat = pytest.importorskip("neuroCombat")
    data, truth = multiview(240, 1, views={"rad": ("gaussian", 30)}, n_sites=3, site_effect_sd=1.0,
                            site_scale_sd=0.5, activity=np.zeros((1, 1), int), missing_entries=0.0,
                            random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(1, site_effects=True, random_state=0).fit(data)
    ours = model.harmonize(data)["rad"].loc[truth["subjects"]]
    raw = data.views["rad"].loc[truth["subjects"]]
    covars = pd.DataFrame({"batch": truth["site"]})
    ref = neurocombat.neuroCombat(raw.to_numpy().T, covars, "batch", eb=False)["data"].T
    corr = [np.corrcoef(ours.to_numpy()[:, j], ref[:, j])[0, 1] for j in range(ref.shape[1])]
    assert np.min(corr) > 0.98
    # same scale: both rescale the residuals to the pooled residual variance
    ratio = ours.to_numpy().std(axis=0) / ref.std(axis=0)
    assert np.mean(np.abs(np.log(ratio)) < 0.1) >= 0.9
    # same location, within the sampling error of a site mean (80 subjects per site: 1/sqrt(80) = 0.11 sd)
    scaled_diff = np.abs(ours.to_numpy() - ref) / raw.to_numpy().std(axis=0)
    assert np.median(scaled_diff) < 0.11
