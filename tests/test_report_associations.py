"""Site-adjusted associations, readable labels and the circular-label rule of the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from rgfactor.report.associations import (adjusted_associations, find_circular_labels, partial_f_test,
                                          readable_labels, trim_for_print)


def factors_of(z: np.ndarray, ids) -> xr.DataArray:
    return xr.DataArray(z, dims=("subject", "factor"),
                        coords={"subject": list(ids), "factor": [f"Factor{k + 1}" for k in range(z.shape[1])]})


def ids(n):
    return [f"S{i:03d}" for i in range(n)]


# ------------------------------------------------------------------ the test statistic against references
def test_without_site_the_f_test_is_the_classical_test():
    """No site: binary = two-sample t-test (equal variances), categorical = one-way ANOVA, continuous =
    Pearson correlation test; the partial F p-values must equal scipy's."""
    rng = np.random.default_rng(0)
    n = 90
    z = rng.normal(size=n)
    binary = rng.integers(0, 2, n)
    cat = rng.integers(0, 3, n)
    cont = rng.normal(size=n) + 0.3 * z
    one = np.ones((n, 1))
    p_bin = partial_f_test(z, binary[:, None].astype(float), one)["p_value"]
    assert p_bin == pytest.approx(stats.ttest_ind(z[binary == 1], z[binary == 0]).pvalue, rel=1e-9)
    cols = np.column_stack([(cat == 1), (cat == 2)]).astype(float)
    assert partial_f_test(z, cols, one)["p_value"] == pytest.approx(
        stats.f_oneway(*[z[cat == g] for g in range(3)]).pvalue, rel=1e-9)
    res = partial_f_test(z, cont[:, None], one)
    r, p = stats.pearsonr(z, cont)
    assert res["p_value"] == pytest.approx(p, rel=1e-9) and res["partial_eta2"] == pytest.approx(r**2, rel=1e-9)


def test_site_adjusted_partial_correlation_by_frisch_waugh_lovell():
    """With site: the partial correlation equals the correlation of the site-residualised score and label
    (Frisch-Waugh-Lovell), and its p-value the t-test with n - 2 - (n_sites - 1) df."""
    rng = np.random.default_rng(1)
    n, n_sites = 120, 4
    site = pd.Series(rng.integers(0, n_sites, n).astype(str), index=ids(n))
    shift = site.map({"0": -1.0, "1": 0.0, "2": 0.5, "3": 2.0}).to_numpy()
    label = shift + rng.normal(size=n)
    z = shift + 0.3 * label + rng.normal(size=n)
    t = adjusted_associations(factors_of(z[:, None], ids(n)), pd.DataFrame({"x": label}, index=ids(n)), site=site)
    d = pd.get_dummies(site, dtype=float).to_numpy()
    res = lambda v: v - d @ np.linalg.lstsq(d, v, rcond=None)[0]  # noqa: E731
    zs = (z - z.mean()) / z.std()
    r = np.corrcoef(res(zs), res(label))[0, 1]
    df = n - 1 - n_sites
    p = 2 * stats.t.sf(abs(r) * np.sqrt(df / (1 - r**2)), df)
    assert t.loc[0, "effect"] == pytest.approx(r, rel=1e-9) and t.loc[0, "effect_measure"] == "partial r"
    assert t.loc[0, "p_value"] == pytest.approx(p, rel=1e-7) and t.loc[0, "df"] == f"1, {df}"


def confounded(seed: int, n: int = 200):
    """Site drives both the label (prevalence 20% vs 80%) and the factor (shift 1.5 sd); no direct effect."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, 2, n)
    label = (rng.random(n) < np.where(site == 1, 0.8, 0.2)).astype(int)
    z = 1.5 * site + rng.normal(size=n)
    return factors_of(z[:, None], ids(n)), pd.DataFrame({"y": label}, index=ids(n)), \
        pd.Series(np.where(site == 1, "B", "A"), index=ids(n))


def test_adjusting_for_site_removes_a_confounded_association():
    """20 null replicates with site confounding: unadjusted, nearly every replicate rejects at 5%;
    adjusted, the rejection rate is the nominal 5% (P(>= 4 of 20 | 5%) = 0.016)."""
    adj = unadj = 0
    for seed in range(20):
        z, lab, site = confounded(seed)
        unadj += adjusted_associations(z, lab)["p_value"][0] < 0.05
        adj += adjusted_associations(z, lab, site=site)["p_value"][0] < 0.05
    assert unadj >= 18 and adj <= 3


def test_binary_effect_is_the_adjusted_mean_difference_in_sd():
    """True standardised difference: 0.8 on a score of sd ~ sqrt(1 + 0.16) -> d ~ 0.74 (n = 2000, se ~ 0.05)."""
    rng = np.random.default_rng(2)
    n = 2000
    g = rng.integers(0, 2, n)
    site = pd.Series(rng.integers(0, 3, n).astype(str), index=ids(n))
    z = 0.8 * g + site.astype(int).to_numpy() + rng.normal(size=n)
    lab = readable_labels(pd.DataFrame({"idh": g}, index=ids(n)), {"idh": {"0": "wild-type", "1": "mutant"}})
    t = adjusted_associations(factors_of(z[:, None], ids(n)), lab, site=site)
    sd_z = z.std()
    assert t.loc[0, "contrast"] == "mutant - wild-type" and t.loc[0, "effect_measure"] == "d"
    assert t.loc[0, "effect"] == pytest.approx(0.8 / sd_z, abs=0.15)


def test_circular_label_uses_its_own_scores_and_p_values_are_bh_adjusted():
    rng = np.random.default_rng(3)
    n = 60
    z = factors_of(rng.normal(size=(n, 2)), ids(n))
    other = factors_of(rng.normal(size=(n, 2)), ids(n))
    lab = pd.DataFrame({"a": rng.integers(0, 2, n), "b": rng.normal(size=n)}, index=ids(n))
    t = adjusted_associations(z, lab, scores={"a": ("view img", other)})
    assert set(t.loc[t["label"] == "a", "scores"]) == {"view img"}
    assert set(t.loc[t["label"] == "b", "scores"]) == {"all views"}
    ref = adjusted_associations(other, lab[["a"]]).set_index("factor")["p_value"]
    got = t[t["label"] == "a"].set_index("factor")["p_value"]
    pd.testing.assert_series_equal(got.sort_index(), ref.sort_index(), check_names=False)
    np.testing.assert_allclose(t["p_adj"], stats.false_discovery_control(t["p_value"], method="bh"))


# ------------------------------------------------------------------ readable labels
READABLE_CASES = [  # (values, level names, expected categories in order)
    ([0.0, 1.0, np.nan, 1.0], None, ["no", "yes"]),
    ([0, 1, 1], {"0": "wild-type", "1": "mutant"}, ["wild-type", "mutant"]),
    ([1.0, 2.0, 3.0, 2.0], None, ["1", "2", "3"]),
    ([2, 1, 3], {1: "G2", 2: "G3", 3: "G4"}, ["G2", "G3", "G4"]),
    (["wt", "mut", "wt"], None, None),                 # already named: unchanged
    (list(np.linspace(0, 1, 30)), None, None),         # continuous: unchanged
]


@pytest.mark.parametrize("values,names,cats", READABLE_CASES)
def test_readable_labels(values, names, cats):
    df = pd.DataFrame({"x": values})
    before = df.copy()
    out = readable_labels(df, {"x": names} if names else None)
    if cats is None:
        pd.testing.assert_series_equal(out["x"], df["x"])
    else:
        assert list(out["x"].cat.categories) == cats and out["x"].isna().sum() == df["x"].isna().sum()
    pd.testing.assert_frame_equal(df, before)     # the caller's labels are not modified


# ------------------------------------------------------------------ the circular-label rule
def test_find_circular_labels():
    rng = np.random.default_rng(4)
    n = 50
    muts = pd.DataFrame(rng.integers(0, 2, (n, 3)).astype(float), index=ids(n), columns=["IDH1", "TP53", "ATRX"])
    muts.iloc[:3] = np.nan                                        # subjects without calls
    rad = pd.DataFrame(rng.normal(size=(n, 5)), index=ids(n))
    labels = pd.DataFrame(index=ids(n))
    labels["IDH_status"] = muts["TP53"].map({0.0: "wt", 1.0: "mut"})   # renamed, recoded copy: circular
    labels["IDH1"] = rng.integers(0, 2, n)                              # named like a feature, other values
    near = muts["ATRX"].copy()
    near.iloc[10] = 1 - near.iloc[10]
    labels["near"] = near                                               # differs on one subject: not a copy
    labels["grade"] = rng.integers(1, 4, n)
    assert find_circular_labels(labels, {"radiomics": rad, "mutations": muts}) == {"IDH_status": ("mutations", "TP53")}


def test_trim_for_print():
    t = pd.DataFrame({"p_adj": [0.001, 0.01, 0.2, 0.3, 0.4, 0.5, 0.6]})
    assert len(trim_for_print(t, min_rows=2)) == 2      # the significant rows
    assert len(trim_for_print(t)) == 5                  # too few significant: the top 5
