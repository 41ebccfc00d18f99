"""Spatially smooth factors (factor_prior='gp'): the coordinates data role, the HSGP factor prior,
recovery on simulated smooth factors, smoothness and interpolation, save/load."""

import warnings

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf
from rgfactor.errors import DataError, SpecError

from conftest import matched_factors

TRUE_LENGTHSCALES = (0.2, 0.8, 0.0, 0.0)
# seed 2: the two smooth truth factors happen to be nearly uncorrelated in the sample (|r| = 0.04; at
# seed 0 they correlate 0.3 by chance, which no method can undo)
SEED = 2


def _views(n=8, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in range(n)]
    return {"g": pd.DataFrame(rng.normal(size=(n, 3)), index=ids, columns=["a", "b", "c"])}, ids


def _coords(ids, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((len(ids), 2)), index=ids, columns=["x", "y"])


# ----------------------------------------------------------------------------- data role
@pytest.mark.timeout(60)
@pytest.mark.parametrize("edit, match", [
    (lambda c: c.drop(index="c3"), "missing for 1 subject.*'c3'"),
    (lambda c: pd.concat([c, c.iloc[[0]].set_axis(["zz"])]), "no view has.*'zz'"),
    (lambda c: pd.concat([c, c.iloc[[0]]]), "'c0' more than once"),
    (lambda c: c.assign(x=c["x"].where(c.index != "c5", np.nan)), "subject 'c5', coordinate 'x' is nan"),
    (lambda c: c.assign(y=c["y"].where(c.index != "c2", np.inf)), "subject 'c2', coordinate 'y' is inf"),
    (lambda c: c.assign(y=1.0), "column 'y' takes one value"),
    (lambda c: c.assign(z=0.1, t=0.2), "4 columns"),
    (lambda c: c.assign(y="a"), "column 'y' is not numeric"),
    (lambda c: c.to_numpy(), "must be a pandas DataFrame"),
])
def test_coordinates_validated(edit, match):
    views, ids = _views()
    with pytest.raises(DataError, match=match):
        rgf.MultiViewData.from_pandas(views, {"g": "gaussian"}, coordinates=edit(_coords(ids)))


@pytest.mark.timeout(60)
def test_coordinates_carried_and_fingerprinted():
    views, ids = _views()
    coords = _coords(ids)
    given = coords.copy()
    data = rgf.MultiViewData.from_pandas(views, {"g": "gaussian"}, coordinates=coords.iloc[::-1])
    pd.testing.assert_frame_equal(coords, given)                      # nothing passed is modified
    assert list(data.coordinates.index) == ids                        # in the views' subject order
    sub = data.subset(["c4", "c1"])
    np.testing.assert_array_equal(sub.coordinates.to_numpy(), coords.loc[["c4", "c1"]].to_numpy())
    assert data.select_views(["g"]).coordinates is data.coordinates
    arrays = sub.to_arrays()
    assert arrays.coordinate_names == ("x", "y") and arrays.coordinates.shape == (2, 2)
    moved = rgf.MultiViewData.from_pandas(views, {"g": "gaussian"}, coordinates=coords.assign(x=coords["x"] + 1))
    assert moved.fingerprint() != data.fingerprint()
    plain = rgf.MultiViewData.from_pandas(views, {"g": "gaussian"})
    assert plain.fingerprint() != data.fingerprint()


@pytest.mark.timeout(60)
def test_gp_prior_settings_checked():
    views, ids = _views(20)
    plain = rgf.MultiViewData.from_pandas(views, {"g": "gaussian"})
    with pytest.raises(DataError, match="coordinates="):
        rgf.GFA(n_factors=2, factor_prior="gp").fit(plain)
    data = rgf.MultiViewData.from_pandas(views, {"g": "gaussian"}, coordinates=_coords(ids))
    with pytest.raises(SpecError, match="unknown factor_prior 'smooth'"):
        rgf.GFA(n_factors=2, factor_prior="smooth").fit(data)
    with pytest.raises(SpecError, match="no stochastic"):
        rgf.GFA(n_factors=2, factor_prior="gp", method="cavi", sparsity="ard", batch_size=10).fit(data)
    with pytest.raises(SpecError, match="lengthscale_range"):
        rgf.GFA(n_factors=2, factor_prior="gp", lengthscale_range=(0.5, 0.1)).fit(data)


# ----------------------------------------------------------------------------- recovery
VIEWS = {"expr": ("gaussian", 30), "counts": ("negative_binomial", 30), "calls": ("bernoulli", 30)}


@pytest.fixture(scope="module")
def spatial_data():
    return rgf.simulate.spatial(250, TRUE_LENGTHSCALES, views=VIEWS, random_state=SEED)


@pytest.fixture(scope="module")
def spatial_fit(spatial_data):
    """method='auto': the closed-form engine."""
    data, truth = spatial_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(n_factors=4, factor_prior="gp", num_draws=100, progress=False, random_state=0).fit(data)
    return data, truth, model


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_smooth_factors_recovered(spatial_fit):
    data, truth, model = spatial_fit
    assert model.diagnostics_["method"] == "cavi"
    elbo = np.asarray(model.diagnostics_["elbo"])
    assert np.all(np.diff(elbo) >= -1e-8 * np.abs(elbo[1:]))           # coordinate ascent: never decreases
    assert abs(np.corrcoef(truth["Z"][:, 0], truth["Z"][:, 1])[0, 1]) < 0.1
    cols, corr = matched_factors(truth["Z"], model.factors_.values)
    assert corr[0] > 0.9 and corr[1] > 0.9, corr                      # the two smooth factors
    table = model.factor_smoothness()
    for k in (0, 1):                                                  # lengthscale within a factor of 2
        est = table["lengthscale"].iloc[cols[k]]
        assert TRUE_LENGTHSCALES[k] / 2 < est < TRUE_LENGTHSCALES[k] * 2, (k, est)
        assert table["scale"].iloc[cols[k]] > 0.7, table
    # the non-smooth truth factors are not separately identified (a rotation of two N(0, I) factors), so
    # the fitted factors matched to them are checked as a pair: little spatial variance
    for k in (2, 3):
        assert table["scale"].iloc[cols[k]] < 0.3, table
    # the intervals bracket the means (a well-determined lengthscale can sit in one grid cell)
    assert (table["lengthscale_2.5%"] <= table["lengthscale"] * (1 + 1e-6)).all()
    assert (table["scale"] <= table["scale_97.5%"] * (1 + 1e-6)).all()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_svi_agrees_with_closed_form(spatial_data, spatial_fit):
    """SVI (NumPyro, mean-field) on the same data finds the same smooth factors and lengthscales."""
    data, truth, cavi = spatial_fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svi = rgf.GFA(n_factors=4, factor_prior="gp", method="svi", max_iter=2000, num_draws=50, progress=False,
                      random_state=0).fit(data)
    c_cols, _ = matched_factors(truth["Z"], cavi.factors_.values)
    s_cols, s_corr = matched_factors(truth["Z"], svi.factors_.values)
    assert s_corr[0] > 0.9 and s_corr[1] > 0.9, s_corr
    t_c, t_s = cavi.factor_smoothness(), svi.factor_smoothness()
    for k in (0, 1):
        a, b = t_c["lengthscale"].iloc[c_cols[k]], t_s["lengthscale"].iloc[s_cols[k]]
        assert 0.5 < a / b < 2.0, (k, a, b)
        assert t_s["scale"].iloc[s_cols[k]] > 0.7
        r = np.corrcoef(cavi.factors_.values[:, c_cols[k]], svi.factors_.values[:, s_cols[k]])[0, 1]
        assert abs(r) > 0.95, r


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_declared_variables_reach_inferencedata(spatial_fit):
    _, _, model = spatial_fit
    post = model.idata_.posterior
    assert post["lengthscale"].dims[2:] == ("factor",)
    assert post["scale"].dims[2:] == ("factor",)
    assert post["gp_weight"].dims[2:] == ("basis", "factor")
    assert "gp_z" not in post and "Z_raw" not in post                 # sampler-only helpers dropped
    assert model.idata_.constant_data["coordinates"].dims == ("subject", "coordinate")
    # the basis-resolution diagnostic fires for a smooth factor whose lengthscale the basis cannot resolve
    from rgfactor.estimators.smooth import resolution_warnings

    assert not any("shortest the HSGP" in w for w in model.diagnostics_["warnings"])
    post = model.idata_.posterior.copy()
    post["lengthscale"] = post["lengthscale"] * 0 + 0.01
    n_smooth = int((np.median(post["scale"].values.reshape(-1, 4), axis=0) > 0.1).sum())
    msgs = resolution_warnings(model.model_.factors, post)
    assert n_smooth == 2 and len(msgs) == 2 and all("lower lengthscale_range" in m for m in msgs)
    with pytest.raises(SpecError, match="factor_prior='normal'"):
        _normal_fit().factor_smoothness()


def _normal_fit():
    views, ids = _views(30)
    data = rgf.MultiViewData.from_pandas(views, {"g": "gaussian"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rgf.GFA(n_factors=1, method="cavi", num_draws=8, progress=False, random_state=0).fit(data)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_interpolation_transform_and_roundtrip(spatial_fit, tmp_path):
    data, truth, model = spatial_fit
    # the smooth part at the training locations follows the factors where they are smooth
    cols, _ = matched_factors(truth["Z"], model.factors_.values)
    at = model.factors_at(data.coordinates)
    for k in (0, 1):
        assert abs(np.corrcoef(at.values[:, cols[k]], truth["Z"][:, k])[0, 1]) > 0.85
    # new subjects: the Laplace posterior with the GP conditional prior agrees with the fit
    sub = data.subset(list(data.subjects[:40]))
    z_new = model.transform(sub)
    for k in (0, 1):
        r = np.corrcoef(z_new.values[:, cols[k]], model.factors_.values[:40, cols[k]])[0, 1]
        assert r > 0.95, r
    no_coords = rgf.MultiViewData.from_pandas(sub.views, sub.likelihoods)
    with pytest.raises(DataError, match="coordinates"):
        model.transform(no_coords)
    far = data.coordinates.iloc[:2] + 50.0
    with pytest.raises(DataError, match="outside the region"):
        model.factors_at(far)
    model.save(tmp_path / "fit")
    back = rgf.load(tmp_path / "fit")
    pd.testing.assert_frame_equal(back.factor_smoothness(), model.factor_smoothness())
    np.testing.assert_allclose(back.factors_at(data.coordinates[:5]).values, at.values[:5], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(back.transform(sub).values, z_new.values, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_gp_factors_from_a_spec_with_coordinates_in_the_clinical_table(tmp_path):
    """`rgfactor fit` on a user's files: [data.clinical] coordinates -> MultiViewData.coordinates, and
    [model] factor_prior = "gp" -> a GFA with smooth factors; the run directory loads with them."""
    from rgfactor.cli import run_fit

    data, truth = rgf.simulate.spatial(80, (0.3, 0.0), views={"genes": ("gaussian", 12)}, random_state=4)
    data.views["genes"].rename_axis("cell").to_csv(tmp_path / "genes.csv")
    clinical = data.coordinates.rename_axis("cell").assign(layer=np.where(truth["Z"][:, 0] > 0, "upper", "lower"))
    clinical.to_csv(tmp_path / "cells.csv")
    (tmp_path / "spatial.toml").write_text(
        'name = "spatial"\nseed = 0\n[data]\nsource = "tables"\n'
        '[data.views.genes]\nfile = "genes.csv"\nlikelihood = "gaussian"\ntransform = "none"\n'
        '[data.clinical]\nfile = "cells.csv"\ncoordinates = ["x", "y"]\n'
        '[model]\nstructure = "GFA"\nn_factors = 2\nfactor_prior = "gp"\nlengthscale_range = [0.1, 1.0]\n'
        '[inference]\nmethod = "cavi"\n')
    out = run_fit(tmp_path / "spatial.toml", tmp_path / "run", data_root=None, quick=False, method=None, progress=False)
    model = rgf.load(out)
    assert model.config_.factor_prior == "gp" and list(model.config_.coordinate_names) == ["x", "y"]
    smooth = model.factor_smoothness()
    assert len(smooth) == 2 and smooth["scale"].max() > 0.5   # the smooth factor is found
    with pytest.raises(DataError, match="coordinates"):   # a coordinate column that is not in the file
        from rgfactor.data.tables import from_tables
        from_tables(tmp_path, views={"genes": {"file": "genes.csv", "likelihood": "gaussian"}},
                    clinical={"file": "cells.csv", "coordinates": ["x", "depth"]})


# ----------------------------------------------------------------------------- report
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_report_has_factor_maps_and_smoothness_table(spatial_fit, tmp_path):
    """The report of a GP-prior fit: one map per active factor (2-D coordinates), the smoothness table as
    CSV (= factor_smoothness) and LaTeX, the Methods sentence with its citations; every file it links exists."""
    from rgfactor.reporting import write_model_report
    from tests.test_report_html import check_run_directory

    data, truth, model = spatial_fit
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_model_report(out, model, data, title="spatial")
    page = check_run_directory(out, tmp_path)
    assert "Spatially smooth factors" in page.h2
    assert (out / "figures" / "factor_maps.png").is_file() and not (out / "figures" / "factor_curves.png").exists()
    table = pd.read_csv(out / "tables" / "factor_smoothness.csv", index_col=0)
    pd.testing.assert_frame_equal(table, model.factor_smoothness(), check_names=False, rtol=1e-12)
    tex = (out / "tables" / "factor_smoothness.tex").read_text()
    assert "lengthscale\\_2.5\\%" in tex and tex.count("\\\\") == 1 + len(table)   # header + one row per factor
    bib = (out / "references.bib").read_text()
    assert all(k in bib for k in ("velten2022mefisto", "solin2020hilbert", "riutortmayol2023hsgp"))
    assert "vary smoothly" in (out / "methods.md").read_text()


@pytest.mark.timeout(60)
def test_report_curves_over_one_coordinate(tmp_path):
    """A 1-D coordinate (e.g. depth, time) gets curves: dots per subject and the interpolated smooth part;
    three coordinates get the table only. Report inputs built by hand (the report layer sees pandas only)."""
    import xarray as xr

    from rgfactor.report import write_report

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(40)]
    depth = pd.DataFrame({"depth": np.sort(rng.random(40))}, index=ids)
    z = xr.DataArray(np.c_[np.sin(6 * depth["depth"]), rng.normal(size=40)], dims=["subject", "factor"],
                     coords={"subject": ids, "factor": ["Factor1", "Factor2"]})
    ve = xr.DataArray([[0.3, 0.2]], dims=["view", "factor"], coords={"view": ["g"], "factor": ["Factor1", "Factor2"]})
    smoothness = pd.DataFrame({"lengthscale": [0.2, 0.5], "scale": [0.9, 0.02], "shortest_resolved": [0.05, 0.05]},
                              index=pd.Index(["Factor1", "Factor2"], name="factor"))
    grid = np.linspace(0, 1, 50)
    smooth = pd.DataFrame({"Factor1": np.sin(6 * grid), "Factor2": 0.0}, index=pd.Index(grid, name="depth"))
    gp = {"coordinates": depth, "smoothness": smoothness, "smooth": smooth, "method": "cavi"}
    write_report(tmp_path / "one", title="depth", variance_explained=ve, factors=z, diagnostics={},
                 submodels={"gp_factors": gp})
    assert (tmp_path / "one" / "figures" / "factor_curves.png").is_file()
    html = (tmp_path / "one" / "report.html").read_text()
    assert "Spatially smooth factors" in html and "grid conditional" in html
    three = depth.assign(y=rng.random(40), t=rng.random(40))
    write_report(tmp_path / "three", title="3-D", variance_explained=ve, factors=z, diagnostics={},
                 submodels={"gp_factors": {**gp, "coordinates": three, "smooth": None}})
    assert not list((tmp_path / "three" / "figures").glob("factor_*"))
    assert "shown in the table only" in (tmp_path / "three" / "report.html").read_text()
    write_report(tmp_path / "none", title="plain", variance_explained=ve, factors=z, diagnostics={})
    assert "Spatially smooth factors" not in (tmp_path / "none" / "report.html").read_text()


# ----------------------------------------------------------------------------- default lengthscale range
@pytest.mark.timeout(60)
def test_default_lengthscale_range_follows_the_spacing_and_the_basis_cap():
    """Upper = the largest range; lower = 3 nearest-neighbour spacings, at most 0.1 x range, at least what
    MAX_BASIS (441) basis functions resolve; an explicit range is kept (its 1% prior quantiles)."""
    import json

    from scipy import stats

    from rgfactor.generative.gp_factors import MAX_BASIS, gp_factor_settings

    def settings(coords, rng_=None):
        s = gp_factor_settings(coords, rng_)
        basis = json.loads(s["basis"])
        a, b = s["lengthscale_prior"]
        return stats.invgamma.ppf([0.01, 0.99], a, scale=b), int(np.prod(basis["n_basis"]))

    rng = np.random.default_rng(0)
    # dense 1-D: 501 time points 0.01 apart over [0, 5] -> 3 spacings, well under the basis cap
    (lo, hi), size = settings(np.linspace(0.0, 5.0, 501)[:, None])
    assert lo == pytest.approx(0.03, rel=1e-6) and hi == pytest.approx(5.0, rel=1e-6) and size <= MAX_BASIS
    # sparse 2-D: 30 cells -> 3 spacings exceed 0.1 x range, the cap at 0.1 x range applies
    (lo, hi), _ = settings(rng.random((30, 2)) * [10.0, 20.0])
    assert lo / hi == pytest.approx(0.1, rel=1e-6)
    # dense 2-D (4,000 cells in 10 x 20): 3 spacings ~ 0.012 x range would need thousands of functions; the
    # basis cap lifts the lower end to where the rule gives at most MAX_BASIS, and not much fewer
    xy = rng.random((4000, 2)) * [10.0, 20.0]
    (lo, hi), size = settings(xy)
    assert hi == pytest.approx(np.ptp(xy, axis=0).max(), rel=1e-6)
    assert 0.75 * MAX_BASIS < size <= MAX_BASIS and 0.02 < lo / hi < 0.1, (size, lo / hi)
    # an explicit range is the user's
    (lo, hi), _ = settings(xy, (0.5, 3.0))
    assert (lo, hi) == (pytest.approx(0.5, rel=1e-6), pytest.approx(3.0, rel=1e-6))


# ----------------------------------------------------------------------------- the closed-form grid step
@pytest.mark.timeout(120)
@pytest.mark.parametrize("gp_basis", ["hsgp", "convolution"])
def test_closed_form_grid_step_maximises_the_collapsed_likelihood(gp_basis):
    """One closed-form update of (scale, lengthscale), started at the longest grid lengthscale, lands on the
    grid maximiser of log N(z; 0, s Phi R_l^2 Phi^T + (1 - s) I) computed here by a dense Cholesky, for a
    well-observed smooth factor (q(Z) a point mass), and the smooth part's mean is then the dense GP
    posterior mean s K (s K + (1 - s) I)^{-1} z. The earlier update (the basis weights held fixed in
    their non-centred form) stayed near its starting lengthscale once the weights were well determined
    (20,000 cells: 0.20 for a true 0.10)."""
    from types import SimpleNamespace

    import jax
    import jax.numpy as jnp

    from rgfactor.generative.gp_factors import GPFactors, basis_from_json, gp_factor_settings
    from rgfactor.generative.gp_factors_cavi import GRID_SCALE

    with jax.enable_x64(True):                 # as the engine runs its sweeps
        n = 200
        rng = np.random.default_rng(3)
        x = rng.random((n, 2))
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        z = np.linalg.cholesky(np.exp(-d2 / (2 * 0.15 ** 2)) + 1e-6 * np.eye(n)) @ rng.normal(size=n)
        z = 0.95 * z / z.std() + 0.3 * rng.normal(size=n)
        settings = gp_factor_settings(x, (0.1, 1.0), gp_basis=gp_basis)
        prior = GPFactors(basis_from_json(settings["basis"]), tuple(settings["lengthscale_prior"]))
        data = {k: jnp.asarray(v) for k, v in prior.cavi_data(SimpleNamespace(coordinates=x)).items()}
        _, q = prior.cavi_init(z[:, None], 0)
        q["lengthscale"] = np.array([prior.lengthscale_grid()[-1]])
        new = prior.cavi_update(q, jnp.asarray(z[:, None]), jnp.asarray(z[:, None, None] ** 2), data=data)

        phi = np.asarray(data["phi"], dtype=float)
        grid = prior.lengthscale_grid()
        log_prior = np.asarray(prior._log_prior(jnp.asarray(GRID_SCALE)[:, None], jnp.asarray(grid)[None, :]))
        best, best_f, best_kern = None, -np.inf, None
        for j, root in enumerate(prior.weight_roots(grid)):
            b = phi * root if root.ndim == 1 else phi @ root
            kern = b @ b.T
            for i, s in enumerate(GRID_SCALE):
                chol = np.linalg.cholesky(s * kern + (1 - s) * np.eye(n))
                a = np.linalg.solve(chol, z)
                f = -np.log(np.diag(chol)).sum() - 0.5 * a @ a + log_prior[i, j]
                if f > best_f:
                    best, best_f, best_kern = (s, grid[j]), f, kern
        assert float(new["scale"][0]) == pytest.approx(best[0], rel=1e-6)
        assert float(new["lengthscale"][0]) == pytest.approx(best[1], rel=1e-6)
        s = best[0]
        dense_mean = s * best_kern @ np.linalg.solve(s * best_kern + (1 - s) * np.eye(n), z)
        np.testing.assert_allclose(phi @ np.asarray(prior._weight_mean(new))[0], dense_mean, atol=1e-6 * np.abs(z).max())
    assert 0.075 < best[1] < 0.3                                         # the data's lengthscale, not the start


# ----------------------------------------------------------------------------- NUTS
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_nuts_mixes_and_tells_the_smooth_factor_from_the_other():
    """NUTS, 2 chains, default 500 warmup + 500 draws, on 80 subjects over one coordinate: one smooth factor
    (lengthscale 0.2) and one N(0, 1) factor (benchmarks/gp_factors_nuts.py's design). Margins from the
    benchmark over 5 seeds (benchmarks/results/gp_factors_nuts.md): 0-1 divergent transitions per fit
    (the settings replaced: 1-3, and up to 16 with target acceptance 0.95 alone), hence at most 1% of the
    transitions (divergence counts vary across CPUs: a bound of 2 on an observed 0-1 is one CPU's luck); max
    R-hat 1.02-1.05 at bulk ESS 35-67 (the slow directions are intrinsic: the smooth factor's amplitude
    against its loadings), against 1.12-1.14 with a diagonal mass matrix on some seeds and 1.16-1.38 for
    the centred forms tried, hence R-hat < 1.1. The
    smooth factor's 95% lengthscale interval held the truth in every seed, and its scale is far above
    the other factor's."""
    data, truth = rgf.simulate.spatial(80, (0.2, 0.0), views={"expr": ("gaussian", 15)}, n_coordinates=1,
                                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(n_factors=2, factor_prior="gp", method="nuts", num_chains=2, progress=False,
                        random_state=0).fit(data)
    d = model.diagnostics_
    assert d["n_divergent"] <= 10, d["n_divergent"]                # 1% of the 1,000 transitions
    assert d["max_r_hat"] < 1.1, d["max_r_hat"]
    corr = np.abs(np.corrcoef(np.c_[truth["Z"][:, 0], model.factors_.values].T)[0, 1:])
    k = int(np.argmax(corr))
    assert corr[k] > 0.95, corr
    post = model.idata_.posterior
    ls = post["lengthscale"].values[..., k].ravel()
    assert np.quantile(ls, 0.025) < 0.2 < np.quantile(ls, 0.975), np.quantile(ls, [0.025, 0.975])
    scale = post["scale"].values.reshape(-1, 2)
    assert np.quantile(scale[:, k], 0.05) > np.median(scale[:, 1 - k]), np.quantile(scale, [0.05, 0.5], axis=0)
    assert "gp_weight" in post and "Z_raw" not in post            # reported weights derived, helpers dropped
