"""rgf.Mediation: recovery of known NIE/NDE, calibration over replicates, agreement with OLS and
statsmodels' Mediation, the sensitivity analysis against Imai et al.'s closed form, and bad input.

References are computed here by independent code (OLS product of coefficients, statsmodels, Monte
Carlo of the simulation's own generative model), never by the code under test.
"""

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import rgfactor as rgf
from rgfactor.errors import DataError, NotFittedError, SpecError

FAST = {"num_warmup": 300, "num_draws": 500, "num_chains": 1, "progress": False}


def _fit(data, clin, outcome="gaussian", confounders=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = clin[["time", "event"]] if outcome == "survival" else clin["y"]
        med = rgf.Mediation(mediators=kwargs.pop("mediators", ["mediators"]), outcome=outcome, **{**FAST, **kwargs})
        return med.fit(data, exposure=clin["exposure"], outcome=y, confounders=confounders)


def _ols(x, m, y, c=None):
    """(a, se_a, b, se_b, c', se_c', residual sd of y | x, m, c) by OLS."""
    cols = [x] if c is None else [x, c]
    fm = sm.OLS(m, sm.add_constant(np.column_stack(cols))).fit()
    fy = sm.OLS(y, sm.add_constant(np.column_stack(cols + [m]))).fit()
    return fm, fy


@pytest.fixture(scope="module")
def gaussian_fit():
    data, clin, _ = rgf.simulate.mediation(200, n_confounders=1, random_state=11)
    return data, clin, _fit(data, clin, confounders=clin[["c0"]])


@pytest.mark.timeout(300)
def test_gaussian_single_mediator_agrees_with_ols(gaussian_fit):
    """Posterior means of NIE and NDE match the OLS product of coefficients (a b and c') within a
    fraction of a posterior sd (flat-ish priors, n = 200), and the posterior sd of the NIE matches
    the second-order delta-method SE within 20%."""
    data, clin, med = gaussian_fit
    x, m, y, c = (clin["exposure"].to_numpy(), data.views["mediators"]["m0"].to_numpy(), clin["y"].to_numpy(),
                  clin["c0"].to_numpy())
    fm, fy = _ols(x, m, y, c)
    a, sa, b, sb = fm.params[1], fm.bse[1], fy.params[3], fy.bse[3]
    summ = med.summary()
    nie, nde = summ.loc["NIE"], summ.loc["NDE"]
    # margin: the priors' pull (small at n = 200) plus the Monte Carlo error of 500 draws of one chain
    # (sd / sqrt(ESS), ESS ~ 150-250: ~0.08 sd), times 4; a wrong estimand is off by ~1 sd or more
    mcse = {k: float(az.mcse(np.asarray(med.effects_[k].transpose("chain", "draw")))) for k in ("NIE", "NDE")}
    assert abs(nie["mean"] - a * b) < 0.1 * nie["sd"] + 4 * mcse["NIE"]
    assert abs(nde["mean"] - fy.params[1]) < 0.1 * nde["sd"] + 4 * mcse["NDE"]
    assert nde["sd"] == pytest.approx(fy.bse[1], rel=0.2)
    assert nie["sd"] == pytest.approx(np.sqrt(a**2 * sb**2 + b**2 * sa**2 + sa**2 * sb**2), rel=0.2)
    # linear model without interaction: the effects do not depend on the arm; TE = NIE + NDE per draw
    eff = med.effects_
    np.testing.assert_allclose(eff["ACME_control"], eff["ACME_treated"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(eff["TE"], eff["NIE"] + eff["NDE"], rtol=1e-5, atol=1e-6)
    assert set(summ.columns) == {"mean", "sd", "hdi_3%", "hdi_97%", "p_positive"}
    assert "NIE_mediator[m0]" in summ.index


@pytest.mark.timeout(300)
def test_sensitivity_matches_imai_closed_form(gaussian_fit):
    """Imai, Keele & Yamamoto (2010, Theorem 2): in the linear model the ACME is 0 at rho equal to
    the correlation of the residuals of the mediator model and the outcome model without the
    mediator; at rho = 0 the sensitivity NIE is the fitted NIE."""
    data, clin, med = gaussian_fit
    x, m, y, c = (clin["exposure"].to_numpy(), data.views["mediators"]["m0"].to_numpy(), clin["y"].to_numpy(),
                  clin["c0"].to_numpy())
    e1 = sm.OLS(m, sm.add_constant(np.column_stack([x, c]))).fit().resid
    e2 = sm.OLS(y, sm.add_constant(np.column_stack([x, c]))).fit().resid
    rho_tilde = np.corrcoef(e1, e2)[0, 1]
    tab = med.sensitivity(rho=np.round(np.linspace(-0.9, 0.9, 37), 10))
    assert tab.attrs["rho_at_zero_NIE"] == pytest.approx(rho_tilde, abs=0.04)
    at0 = tab[(tab.rho == 0.0) & (tab.estimand == "NIE")]["mean"].iloc[0]
    assert at0 == pytest.approx(float(med.effects_["NIE"].mean()), rel=1e-4)
    with pytest.raises(SpecError, match="between -1 and 1"):
        med.sensitivity(rho=[0.5, 1.0])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bernoulli_agrees_with_statsmodels_mediation():
    """A binary outcome (effects on the probability scale): posterior means of NIE/NDE/TE agree with
    statsmodels' parametric Mediation (GLM logit + OLS mediator) within 0.1 posterior sd (prior and
    asymptotics) plus 4 Monte Carlo standard errors of the difference (our draws' MCSE; statsmodels'
    estimate is a mean over n_rep simulated parameter draws, MCSE sd / sqrt(n_rep))."""
    from statsmodels.stats.mediation import Mediation as SMMediation

    data, clin, _ = rgf.simulate.mediation(300, outcome="bernoulli", a=0.5, b=0.6, direct=0.4, n_confounders=1,
                                           random_state=5)
    med = _fit(data, clin, outcome="bernoulli", confounders=clin[["c0"]])
    df = sm.add_constant(clin.assign(m=data.views["mediators"]["m0"].to_numpy()))
    # the models from design matrices, not formulas: the same regressions, but statsmodels then sets the
    # exposure and mediator columns in place instead of re-running the formulas 3 times per replicate
    # (~75% of this test's time); columns found by name
    om = sm.GLM(df["y"], df[["const", "exposure", "m", "c0"]], family=sm.families.Binomial())
    mm = sm.OLS(df["m"], df[["const", "exposure", "c0"]])
    n_rep = 1000
    res = SMMediation(om, mm, "exposure", "m").fit(n_rep=n_rep, method="parametric", rng=0)
    ref = res.summary()
    sm_draws = {"ACME (treated)": res.ACME_tx, "ADE (control)": res.ADE_ctrl, "Total effect": res.total_effect,
                "ACME (control)": res.ACME_ctrl}
    summ = med.summary()
    for ours, theirs in (("NIE", "ACME (treated)"), ("NDE", "ADE (control)"), ("TE", "Total effect"),
                         ("ACME_control", "ACME (control)")):
        mcse = float(az.mcse(np.asarray(med.effects_[ours].transpose("chain", "draw"))))
        mcse_sm = float(np.std(sm_draws[theirs]) / np.sqrt(n_rep))
        diff = abs(summ.loc[ours, "mean"] - ref.loc[theirs, "Estimate"])
        assert diff < 0.1 * summ.loc[ours, "sd"] + 4 * np.hypot(mcse, mcse_sm), (ours, diff, summ.loc[ours, "sd"], mcse, mcse_sm)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_interval_coverage_standard_design():
    """Standard design (n = 200, a = b = c' = 0.39, binary exposure): 95% intervals of NIE and NDE
    cover the truth in at least 16 of 20 replicates (P < 0.003 each under 95% coverage), and are not
    too wide: their mean width is within 25% of the OLS delta-method width 2 x 1.96 SE (the
    100-replicate figures are in benchmarks/results/mediation_calibration.md)."""
    truth = {"NIE": 0.39 * 0.39, "NDE": 0.39}
    hits = {k: 0 for k in truth}
    width = {k: [] for k in truth}
    for seed in range(100, 120):
        data, clin, _ = rgf.simulate.mediation(200, random_state=seed)
        med = _fit(data, clin, random_state=seed, num_warmup=200, num_draws=300)
        fm, fy = _ols(clin["exposure"].to_numpy(), data.views["mediators"]["m0"].to_numpy(), clin["y"].to_numpy())
        a, sa, b, sb = fm.params[1], fm.bse[1], fy.params[2], fy.bse[2]
        se = {"NIE": np.sqrt(a**2 * sb**2 + b**2 * sa**2 + sa**2 * sb**2), "NDE": fy.bse[1]}
        for name, value in truth.items():
            lo, hi = np.quantile(med.effects_[name].values, [0.025, 0.975])
            hits[name] += lo <= value <= hi
            width[name].append((hi - lo) / (2 * 1.96 * se[name]))
    assert hits["NIE"] >= 16 and hits["NDE"] >= 16, hits
    for name, ratios in width.items():
        assert 0.75 < np.mean(ratios) < 1.25, (name, np.mean(ratios))


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("pm", [0.0, 0.5, 1.0])
def test_survival_known_proportion_mediated(pm):
    """Weibull PH outcome with right censoring and a known proportion mediated of 0, 0.5 and 1 on the
    reported scale (NIE / TE of S(horizon), as statsmodels' PHReg mediation test varies it): NIE and
    NDE of S(horizon) within 3 posterior sd of the truth, which simulate.mediation_survival computes
    by a Monte Carlo of 2e6 potential event times (not the package's quadrature). 3 sd, not the 95%
    interval: six checks at 95% would fail one seed in four under a correct model (95% coverage over
    replicates is measured in benchmarks/mediation_survival.py). RMST effects take the sign of the
    survival ones."""
    data, clin, truth = rgf.simulate.mediation_survival(300, proportion_mediated=pm, random_state=3)
    assert truth["PM"] == pytest.approx(pm, abs=0.01)          # the design hits its PM (Monte Carlo)
    med = _fit(data, clin, outcome="survival", horizon=truth["horizon"], random_state=3)
    summ = med.summary()
    assert med.horizon_ == pytest.approx(truth["horizon"])
    for name in ("NIE", "NDE"):
        assert abs(summ.loc[name, "mean"] - truth[name]) < 3 * summ.loc[name, "sd"], (name, summ.loc[name], truth[name])
    if pm > 0:     # a mediator that raises the hazard lowers survival and the restricted mean
        assert summ.loc["NIE_rmst", "mean"] < 0 and summ.loc["NIE", "hdi_97%"] < 0
    else:
        with pytest.raises(SpecError, match="gaussian and bernoulli"):
            med.sensitivity(rho=[0.1])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_latent_mediators_per_factor_effects(tmp_path):
    """Two latent factors drive the outcome; only one is shifted by the exposure. The NIE through it
    is recovered, the NIE through the exposure-independent one is ~0, total NIE and NDE recovered
    (all within 3 posterior sd). Model factors are matched to the true ones by correlation."""
    a, b, direct = np.array([0.0, 1.0]), np.array([0.8, 0.8]), 0.3
    data, clin, truth = rgf.simulate.mediation_factors(
        160, a=a, b=b, direct=direct, views={"imaging": ("gaussian", 20), "omics": ("gaussian", 14)}, random_state=0)
    med = _fit(data, clin, mediators="factors", n_factors=2, num_warmup=200, num_draws=300)
    summ = med.summary()
    z = med.factors_.values
    corr = np.abs(np.corrcoef(np.c_[z, truth["Z"]].T)[: z.shape[1], z.shape[1]:])   # (model, true)
    labels = list(med.factors_["factor"].values)
    match = [labels[int(np.argmax(corr[:, j]))] for j in range(2)]
    assert corr.max(axis=0).min() > 0.9, corr
    for j, value in enumerate(a * b):
        row = summ.loc[f"NIE_mediator[{match[j]}]"]
        assert abs(row["mean"] - value) < 3 * row["sd"], (j, row, value)
    assert summ.loc[f"NIE_mediator[{match[1]}]", "hdi_3%"] > 0        # the mediating factor is detected
    assert abs(summ.loc["NIE", "mean"] - a @ b) < 3 * summ.loc["NIE", "sd"]
    assert abs(summ.loc["NDE", "mean"] - direct) < 3 * summ.loc["NDE", "sd"]
    page = med.report(tmp_path).read_text()
    assert "Mediation effects" in page and (tmp_path / "tables" / "mediation_effects.tex").exists()
    assert (tmp_path / "figures" / "mediation_forest.png").exists()


@pytest.mark.timeout(300)
def test_total_effects_invariant_to_factor_rotation():
    """Latent mediators: the total NIE/NDE of a draw do not change when its factors are rotated and
    sign-flipped together with every rotatable variable (Z, loadings incl. the outcome's paths b, the
    exposure paths a), and the posterior alignment (sign/permutation, Procrustes) keeps them; the
    per-factor NIE does change (it is defined only up to the factors' rotation). Checked per draw to
    floating-point accuracy: the mediation formula is a function of a R . b R = a . b."""
    from scipy.stats import special_ortho_group

    from rgfactor.posterior.align import align_draws, rotate_draws
    from rgfactor.posterior.mediation import mediation_effects

    from rgfactor.generative.mediation import MediationConfig, describe_mediation
    from rgfactor.generative.model import config_from_arrays

    data, clin, _ = rgf.simulate.mediation_factors(60, a=(0.5, 1.0, 0.0), b=(0.8, 0.5, 0.3),
                                                   views={"imaging": ("gaussian", 8)}, activity=np.ones((1, 3), int),
                                                   random_state=1)
    model = describe_mediation(MediationConfig(config_from_arrays(rgf.simulate.model_arrays(data), 3), "bernoulli"))
    roles = model.variables()
    rng = np.random.default_rng(0)
    c, s, n = 2, 20, 60     # draws of every variable the alignment and the estimands read, as from a posterior
    draws = {"Z": rng.normal(size=(c, s, n, 3)), "W_imaging": rng.normal(size=(c, s, 8, 3)),
             "W_outcome": rng.normal(size=(c, s, 1, 3)), "exposure_effect": rng.normal(size=(c, s, 3)),
             "exposure_effect_outcome": rng.normal(size=(c, s, 1)), "intercept_outcome": rng.normal(size=(c, s, 1))}
    x = {"exposure": clin["exposure"].to_numpy()}
    rot = special_ortho_group.rvs(3, size=c * s, random_state=1).reshape(c, s, 3, 3)
    rot = rot * rng.choice([-1.0, 1.0], size=(c, s, 1, 3))
    moved = {k: np.einsum("cs...k,cskj->cs...j", d, rot) if roles[k].rotatable else d for k, d in draws.items()}

    def effects(d):
        return mediation_effects(model, {k: v for k, v in d.items() if k != "Z"}, x, 0.0, 1.0)

    before, after = effects(draws), effects(moved)
    realigned = effects(rotate_draws(align_draws(moved, roles)[0], roles)[0])
    scale = float(before["NIE"].std())
    for name in ("NIE", "NDE", "TE"):
        np.testing.assert_allclose(after[name], before[name], atol=1e-6 * scale)
        np.testing.assert_allclose(realigned[name], before[name], atol=1e-6 * scale)
    assert float(abs(after["NIE_mediator"] - before["NIE_mediator"]).max()) > scale     # per factor: not invariant


@pytest.mark.timeout(120)
def test_report_section_shows_the_effects(gaussian_fit, tmp_path):
    """The registered report section renders the forest plot and the table of the summary."""
    import xarray as xr

    from rgfactor.report import write_report

    _, _, med = gaussian_fit
    summ = med.summary()
    z = xr.DataArray(np.zeros((4, 1)), dims=("subject", "factor"), coords={"subject": list("abcd"), "factor": ["Factor1"]})
    ve = xr.DataArray([[0.1]], dims=("view", "factor"), coords={"view": ["v"], "factor": ["Factor1"]})
    page = write_report(tmp_path, title="t", variance_explained=ve, factors=z, diagnostics={},
                        submodels={"mediation": {"summary": summ, "unit": "outcome units"}}).read_text()
    assert "Mediation effects" in page and "forest" in page
    table = pd.read_csv(tmp_path / "tables" / "mediation_effects.csv", index_col=0)
    assert table.loc["NIE", "mean"] == pytest.approx(summ.loc["NIE", "mean"])
    assert (tmp_path / "figures" / "mediation_forest.pdf").exists()
    with pytest.raises(SpecError, match="latent mediators"):
        med.report(tmp_path / "x")


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small():
    data, clin, _ = rgf.simulate.mediation(40, n_confounders=1, random_state=0)
    return data, clin


@pytest.mark.parametrize("change, error, match", [
    (lambda c: c.assign(exposure=1.0), DataError, "single value"),
    (lambda c: c.assign(exposure=np.where(c.exposure > 0, "mut", "wt")), DataError, "must be numeric"),
    (lambda c: c.assign(y=np.r_[2.0, np.zeros(39)]), DataError, "other than 0/1 for subject 's0000'"),
    (lambda c: c.rename(index=lambda s: "x" + s), DataError, "shares no subject"),
])
@pytest.mark.timeout(60)
def test_bad_exposure_or_outcome(small, change, error, match):
    data, clin = small
    bad = change(clin.copy())
    with pytest.raises(error, match=match):
        rgf.Mediation(mediators=["mediators"], outcome="bernoulli" if "other than" in match else "gaussian").fit(
            data, exposure=bad["exposure"], outcome=bad["y"])


@pytest.mark.timeout(60)
def test_bad_survival_outcome(small):
    data, clin = small
    med = rgf.Mediation(mediators=["mediators"], outcome="survival")
    surv = pd.DataFrame({"time": np.linspace(0.1, 2, 40), "event": 1.0}, index=clin.index)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['event'\]"):
        med.fit(data, exposure=clin["exposure"], outcome=surv[["time"]])
    with pytest.raises(DataError, match="time <= 0 for subject 's0003'"):
        med.fit(data, exposure=clin["exposure"], outcome=surv.assign(time=np.r_[1, 1, 1, 0.0, np.ones(36)]))
    with pytest.raises(DataError, match="must be a DataFrame with columns"):
        med.fit(data, exposure=clin["exposure"], outcome=surv["time"])


@pytest.mark.timeout(60)
def test_bad_settings(small):
    data, clin = small
    with pytest.raises(SpecError, match="unknown outcome 'poisson'"):
        rgf.Mediation(outcome="poisson").fit(data, exposure=clin["exposure"], outcome=clin["y"])
    with pytest.raises(SpecError, match="mediator view 'imaging' is not a view"):
        rgf.Mediation(mediators=["imaging"]).fit(data, exposure=clin["exposure"], outcome=clin["y"])
    with pytest.raises(SpecError, match="method='cavi' cannot fit"):
        rgf.Mediation(mediators=["mediators"], method="cavi").fit(data, exposure=clin["exposure"], outcome=clin["y"])
    with pytest.raises(SpecError, match="control_value and treat_value are equal"):
        rgf.Mediation(mediators=["mediators"], control_value=1, treat_value=1).fit(
            data, exposure=clin["exposure"], outcome=clin["y"])
    with pytest.raises(DataError, match="needs exposure= and outcome="):
        rgf.Mediation().fit(data, exposure=clin["exposure"])
    with pytest.raises(NotFittedError, match="not fitted"):
        rgf.Mediation().summary()


@pytest.mark.timeout(60)
def test_exposure_that_is_a_mediator_feature_is_refused(small):
    data, clin = small
    views = {"mediators": data.views["mediators"].assign(IDH1=clin["exposure"])}
    leaky = rgf.MultiViewData.from_pandas(views, {"mediators": "gaussian"})
    with pytest.raises(DataError, match="feature 'IDH1' of view 'mediators'"):
        rgf.Mediation(mediators=["mediators"]).fit(leaky, exposure=clin["exposure"].rename("IDH1"), outcome=clin["y"])


@pytest.mark.timeout(300)
def test_inputs_untouched_and_seeded(gaussian_fit):
    """The same seed gives the same draws; nothing the user passed is modified."""
    data, clin, med = gaussian_fit
    before_clin, before_view = clin.copy(), data.views["mediators"].copy()
    again = _fit(data, clin, confounders=clin[["c0"]])
    pd.testing.assert_frame_equal(clin, before_clin)
    pd.testing.assert_frame_equal(data.views["mediators"], before_view)
    np.testing.assert_array_equal(med.effects_["NIE"].values, again.effects_["NIE"].values)
