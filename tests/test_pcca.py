"""PCCA: fixed shared/specific structure, group-preserving alignment, canonical correlations."""

import warnings

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf
from rgfactor.errors import SpecError
from rgfactor.generative.variables import SCORES, Variable
from rgfactor.posterior.align import align_draws, canonical_order, rotate_draws
from rgfactor.posterior.canonical import canonical_correlations_from_loadings


def two_views(n, likelihoods=("gaussian", "gaussian"), dims=(6, 5), n_shared=2, seed=0):
    """Two views from the PCCA model (rgf.simulate with a PCCA activity pattern): ``n_shared`` shared
    factors, one specific factor per view, every loading non-zero. truth: Z (shared), S (specific)."""
    act = np.array([[1] * n_shared + [1, 0], [1] * n_shared + [0, 1]])
    views = {f"v{m}": (lik, d) for m, (lik, d) in enumerate(zip(likelihoods, dims))}
    data, truth = rgf.simulate.multiview(n_subjects=n, n_factors=n_shared + 2, views=views, n_sites=0,
                                         fraction_nonzero=1.0, activity=act, missing_entries=0.0, missing_views=0.0,
                                         random_state=seed)
    truth["S"] = truth["Z"][:, n_shared:]
    truth["Z"] = truth["Z"][:, :n_shared]
    return data, truth


def fit(model, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(data)


def test_structure_and_recovery_mixed_likelihoods(tmp_path):
    """Gaussian + Bernoulli views, N=300, 1 shared + 1 specific per view: loadings of a factor fixed
    off a view are exactly 0 there, the shared factor is recovered (|corr| >= 0.85: the Bernoulli view
    carries little information per subject, the Gaussian view most of it) and is labelled 'shared'."""
    data, truth = two_views(300, ("gaussian", "bernoulli"), (10, 30), n_shared=1, seed=1)
    m = fit(rgf.PCCA(1, 1, max_iter=1500, num_draws=50, random_state=0), data)
    assert m.diagnostics_["method"] == "cavi"   # 'auto': the closed-form engine covers PCCA
    kinds = list(m.idata_.posterior["factor_kind"].values)
    assert kinds == ["shared", "v0_specific", "v1_specific"]
    w0, w1 = m.idata_.posterior["W_v0"].values, m.idata_.posterior["W_v1"].values
    assert np.all(w0[..., 2] == 0) and np.all(w1[..., 1] == 0)  # never across the shared/specific boundary
    # the active loadings are estimated (every true loading is non-zero): most posterior means are away from 0
    assert (np.abs(w0[..., :2].mean((0, 1))) > 0.05).mean() > 0.8 and (np.abs(w1[..., [0, 2]].mean((0, 1))) > 0.05).mean() > 0.8
    z = m.factors_.values
    assert abs(np.corrcoef(z[:, 0], truth["Z"][:, 0])[0, 1]) >= 0.85
    assert abs(np.corrcoef(z[:, 1], truth["S"][:, 0])[0, 1]) >= 0.85
    rho = m.canonical_correlations("v0", "v1")
    assert rho.dims == ("chain", "draw", "component") and rho.shape == (2, 25, 1)   # 50 draws from q, 2 pseudo-chains
    assert float(rho.min()) >= 0 and float(rho.max()) < 1
    tab = m.canonical_correlations("v0", "v1", summary=True)
    assert list(tab.columns) == ["component", "mean", "hdi_low", "hdi_high"]
    assert tab["hdi_low"][0] <= tab["mean"][0] <= tab["hdi_high"][0]
    with pytest.raises(SpecError, match="'svi' or 'nuts'"):
        rgf.PCCA(1, 1, sparsity="horseshoe").fit(data, method="cavi")
    m.save(tmp_path / "fit")
    again = rgf.load(tmp_path / "fit")
    np.testing.assert_allclose(again.canonical_correlations("v0", "v1").values, rho.values)
    assert list(again.idata_.posterior["factor_kind"].values) == kinds


def test_canonical_correlations_match_the_covariance_definition():
    """Woodbury/eigen shortcut == singular values of S11^-1/2 S12 S22^-1/2 built from full matrices."""
    rng = np.random.default_rng(0)
    k, shared = 4, np.array([0, 1])
    w1, w2 = rng.normal(size=(7, k)), rng.normal(size=(5, k))
    w1[:, 3] = 0
    w2[:, 2] = 0
    psi1, psi2 = rng.uniform(0.5, 2, 7), rng.uniform(0.5, 2, 5)
    s11, s22, s12 = w1 @ w1.T + np.diag(psi1), w2 @ w2.T + np.diag(psi2), w1 @ w2.T

    def inv_sqrt(s):
        val, vec = np.linalg.eigh(s)
        return vec @ np.diag(val**-0.5) @ vec.T

    ref = np.linalg.svd(inv_sqrt(s11) @ s12 @ inv_sqrt(s22), compute_uv=False)[:2]
    got = canonical_correlations_from_loadings(w1, w2, psi1, psi2, shared)
    np.testing.assert_allclose(got, ref, rtol=1e-8)


def test_alignment_stays_within_groups():
    """Draws whose best unconstrained match would swap a shared and a specific factor keep their groups."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 3))
    draws = np.stack([base, base, base[:, [1, 0, 2]]])[None]  # draw 3 swaps factors 0 and 1
    d = {"Z": draws, "W_a": draws[:, :, :5]}
    roles = {"Z": Variable("Z", ("subject", "factor"), SCORES), "W_a": Variable("W_a", ("a_feature", "factor"), SCORES)}
    free, _ = align_draws(d, roles)
    np.testing.assert_allclose(free["Z"][0, 2], base)  # GFA: the swap is undone
    groups = np.array([0, 1, 1])
    grouped, _ = align_draws(d, roles, groups=groups)
    np.testing.assert_allclose(grouped["Z"][0, 2], base[:, [1, 0, 2]])  # across groups: not allowed
    _, order, _ = canonical_order(d, np.array([0.1, 0.5, 0.9]), roles, groups=groups)
    assert list(order) == [0, 2, 1]  # group 0 first, then by importance within group 1
    rot, _ = rotate_draws({k: v.copy() for k, v in d.items()}, roles, groups=np.array([0, 1, 2]))
    np.testing.assert_allclose(rot["Z"], d["Z"])  # one factor per group: only trivial rotations


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_canonical_correlations_reduce_to_sklearn_cca():
    """Two Gaussian views, N=600, 2 shared + 1 specific each: NUTS posterior-mean canonical correlations
    agree with sklearn CCA's sample canonical correlations within 0.05 (both estimate the same
    population quantities; the sampling sd of a canonical correlation at N=600 is about 0.02)."""
    from sklearn.cross_decomposition import CCA

    data, _ = two_views(600, seed=0)
    m = fit(rgf.PCCA(2, 1, method="nuts", num_warmup=200, num_draws=200, num_chains=1, random_state=0), data)
    got = m.canonical_correlations("v0", "v1").mean(("chain", "draw")).values
    x, y = data.views["v0"].to_numpy(), data.views["v1"].to_numpy()
    xs, ys = CCA(2, max_iter=2000).fit(x, y).transform(x, y)
    ref = np.array([np.corrcoef(xs[:, k], ys[:, k])[0, 1] for k in range(2)])
    np.testing.assert_array_less(np.abs(got - ref), 0.05)


DATA_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(not DATA_ROOT.exists(), reason="../shared/data not present")
def test_lgg_pcca_spec_reports_canonical_correlations(tmp_path):
    from rgfactor.cli import main

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    out = tmp_path / "lgg_pcca"
    assert main(["fit", str(root / "models" / "lgg_pcca.toml"), "--quick", "--out", str(out), "--no-progress"]) == 0
    tab = pd.read_csv(out / "tables" / "canonical_correlations.csv")
    assert list(tab.columns) == ["view1", "view2", "component", "mean", "hdi_low", "hdi_high"]
    assert len(tab) == 2 and tab["mean"].between(0, 1).all() and (tab["hdi_low"] <= tab["hdi_high"]).all()
    assert "canonical_correlations" in (out / "report.html").read_text()
