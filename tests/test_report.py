"""Tests of the report layer: association tests, tables, figures and the HTML report."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from rgfactor.errors import DataError, DataWarning
from rgfactor.report import (association_table, label_kind, plot_elbo, plot_factor_scatter,
                             plot_rhat_ess, plot_variance_explained, save_figure,
                             shared_factors, variance_explained_table, write_report, write_table)

N = 120


def make_factors(n: int = N, k: int = 2, seed: int = 0, ids=None) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    ids = ids if ids is not None else [f"S{i:03d}" for i in range(n)]
    return xr.DataArray(rng.normal(size=(n, k)), dims=("subject", "factor"),
                        coords={"subject": ids, "factor": [f"Factor{j + 1}" for j in range(k)]})


def shifted(seed: int = 0):
    """Factor1 = binary group shift of 2 sd; Factor2 = noise; labels of every kind."""
    rng = np.random.default_rng(seed)
    z = make_factors(seed=seed)
    group = rng.integers(0, 2, N)
    z.values[:, 0] += 2.0 * group
    labels = pd.DataFrame({
        "idh": group,
        "grade": rng.integers(1, 4, N),                     # 3 integer codes -> categorical
        "age": rng.normal(60, 10, N),                       # continuous
        "subtype": rng.choice(["classic", "mesenchymal", "neural", "proneural"], N),
    }, index=z.subject.values)
    return z, labels


def bh_reference(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg (1995) step-up, written independently of scipy."""
    m, order = len(p), np.argsort(p)
    adj = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(adj[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def test_strong_shift_found_noise_not():
    z, labels = shifted(seed=0)
    t = association_table(z, labels[["idh"]]).set_index("factor")
    # shift of 2 sd with ~60 per group: Mann-Whitney p ~ 1e-15, far below 1e-3
    assert t.loc["Factor1", "p_adj"] < 1e-3
    assert t.loc["Factor1", "effect"] > 0.5   # group 1 has larger scores
    assert t.loc["Factor2", "p_adj"] > 0.05   # pure noise (seed 0)


def test_noise_rarely_significant_across_seeds():
    hits = sum(association_table(*shifted(seed=s)).query("factor == 'Factor2'")["p_adj"].min()
               < 0.05 for s in range(10))
    assert hits <= 2  # 4 null tests per seed after BH; expect ~0-1 of 10 seeds at FDR 5%


def test_bh_matches_reference_and_sorted():
    t = association_table(*shifted(seed=1))
    np.testing.assert_allclose(t["p_adj"], bh_reference(t["p_value"].to_numpy()), rtol=1e-12)
    assert t["p_value"].is_monotonic_increasing
    assert list(t.columns) == ["factor", "label", "kind", "test", "n", "statistic", "effect",
                               "p_value", "p_adj"]


KIND_CASES = [  # (values, expected kind)
    ([0, 1, 1, 0, np.nan], "binary"),
    (["wt", "mut", "wt", None], "binary"),
    ([1, 2, 3, 2, 1], "categorical"),
    (["a", "b", "c", "a"], "categorical"),
    (list(np.linspace(0, 1, 30)), "continuous"),
    (list(range(30)), "continuous"),           # more than max_categories integer values
    ([1.5, 2.5, 3.5, 1.5], "continuous"),       # few values but not integer codes
    ([7, 7, np.nan], None),
]


@pytest.mark.parametrize("values,kind", KIND_CASES)
def test_label_kind(values, kind):
    assert label_kind(pd.Series(values)) == kind


def test_kinds_and_tests_in_table():
    t = association_table(*shifted(seed=0)).drop_duplicates("label").set_index("label")
    assert t["kind"].to_dict() == {"idh": "binary", "grade": "categorical",
                                   "age": "continuous", "subtype": "categorical"}
    assert t["test"].to_dict() == {"idh": "mann-whitney-u", "grade": "kruskal-wallis",
                                   "age": "spearman", "subtype": "kruskal-wallis"}


def test_statistics_match_scipy():
    z, labels = shifted(seed=2)
    t = association_table(z, labels).set_index(["factor", "label"])
    z1 = z.sel(factor="Factor1").values
    rho, p = stats.spearmanr(z1, labels["age"])
    assert t.loc[("Factor1", "age"), "statistic"] == pytest.approx(rho, rel=1e-12)
    assert t.loc[("Factor1", "age"), "p_value"] == pytest.approx(p, rel=1e-12)
    h, p = stats.kruskal(*[z1[labels["subtype"] == g] for g in sorted(labels["subtype"].unique())])
    assert t.loc[("Factor1", "subtype"), "statistic"] == pytest.approx(h, rel=1e-12)
    assert t.loc[("Factor1", "subtype"), "effect"] == pytest.approx(h / (N - 1), rel=1e-12)
    g = labels["idh"].to_numpy()
    u, p = stats.mannwhitneyu(z1[g == 1], z1[g == 0])
    assert t.loc[("Factor1", "idh"), "p_value"] == pytest.approx(p, rel=1e-12)
    assert t.loc[("Factor1", "idh"), "effect"] == pytest.approx(
        2 * u / ((g == 1).sum() * (g == 0).sum()) - 1, rel=1e-12)


def test_partial_overlap_nan_and_constant_label():
    z, labels = shifted(seed=0)
    extra = pd.DataFrame({"idh": [1, 0]}, index=["X1", "X2"])       # unknown subjects
    lab = pd.concat([labels.iloc[20:][["idh", "age"]], extra])     # 20 subjects missing
    lab.loc[lab.index[:5], "age"] = np.nan
    lab["site"] = "A"                                               # single value
    with pytest.warns(DataWarning, match="site"):
        t = association_table(z, lab)
    assert set(t["label"]) == {"idh", "age"}
    assert t.attrs["skipped"] == {"site": "fewer than 2 distinct non-missing values"}
    n = t.set_index(["factor", "label"])["n"]
    assert n[("Factor1", "idh")] == N - 20
    assert n[("Factor1", "age")] == N - 25


def test_no_shared_subject_raises():
    with pytest.raises(DataError, match="no subject is shared"):
        association_table(make_factors(), pd.DataFrame({"a": [0, 1]}, index=["p", "q"]))


def make_ve(views=("rna", "radiomics"), k: int = 3) -> xr.DataArray:
    vals = np.array([[0.30, 0.005, 0.10], [0.20, 0.15, 0.002]])[: len(views), :k]
    return xr.DataArray(vals, dims=("view", "factor"),
                        coords={"view": list(views), "factor": [f"Factor{j + 1}" for j in range(k)]})


def test_variance_explained_table_and_shared():
    df = variance_explained_table(make_ve())
    assert list(df.columns) == ["Factor1", "Factor2", "Factor3", "total"]
    assert df.loc["rna", "total"] == pytest.approx(0.405)
    assert shared_factors(make_ve()) == ["Factor1"]
    assert shared_factors(make_ve(), threshold=0.001) == ["Factor1", "Factor2", "Factor3"]


def test_write_table_roundtrip(tmp_path):
    t = association_table(*shifted(seed=0))
    csv, tex = write_table(t, tmp_path, "associations", caption="100% of p_values & more")
    back = pd.read_csv(csv)
    pd.testing.assert_frame_equal(back, t, check_dtype=False)
    text = tex.read_text()
    assert r"\begin{tabular}" in text and r"\toprule" in text
    assert r"100\% of p\_values \& more" in text and r"p\_adj" in text
    ve = variance_explained_table(make_ve())
    csv, _ = write_table(ve, tmp_path, "ve")
    pd.testing.assert_frame_equal(pd.read_csv(csv, index_col=0), ve)
    with pytest.raises(DataError):
        write_table(ve, tmp_path, "../escape")


def test_figures_do_not_touch_pyplot(tmp_path):
    z, labels = shifted(seed=0)
    labels.loc[labels.index[:4], "age"] = np.nan
    figs = [plot_variance_explained(make_ve()), plot_factor_scatter(z, labels, "subtype"),
            plot_factor_scatter(z, labels, "age"), plot_factor_scatter(z, labels, "idh", y=None),
            plot_elbo(1e4 * np.exp(-np.arange(300) / 30) + 50),
            plot_rhat_ess({"r_hat": [1.0, 1.02, 1.001], "ess_bulk": [800, 120, 450]})]
    for i, fig in enumerate(figs):
        path = save_figure(fig, tmp_path / "f" / f"{i}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(DataError):
        plot_factor_scatter(z, labels, "nope")


def test_report_layer_imports_no_pyplot_and_no_upper_layer():
    """Layer rule (ARCHITECTURE.md): report modules import no inference/generative/estimator code,
    no JAX, and no pyplot (figures are built on matplotlib.figure.Figure, no global state)."""
    import ast
    import pathlib

    import rgfactor.report

    banned = ("rgfactor.inference", "rgfactor.estimators", "rgfactor.generative", "jax", "numpyro",
              "matplotlib.pyplot")
    for path in pathlib.Path(rgfactor.report.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(banned), f"{path.name} imports {name}"


def test_write_report(tmp_path):
    z, labels = shifted(seed=0)
    labels = labels.rename(columns={"age": "<script>alert(1)</script>"})
    diagnostics = dict(method="svi", n_steps=300, converged=False, wall_time_s=12.3,
                       warnings=["ELBO still <decreasing>"], elbo=list(np.linspace(100, 10, 300)),
                       summary={"r_hat": [1.0, 1.05], "ess_bulk": [500.0, 90.0]}, seed=7)
    path = write_report(tmp_path / "run", title="GBM <demo>", variance_explained=make_ve(k=2),
                        factors=z, labels=labels, diagnostics=diagnostics,
                        spec_text="[model]\nstructure = 'GFA' # <b>", extra_tables={
                            "top loadings": pd.DataFrame({"feature": ["EGFR"], "w": [1.5]})})
    out = tmp_path / "run"
    assert path == out / "report.html"
    expected = ["figures/variance_explained.png", "figures/elbo.png", "figures/rhat_ess.png",
                "figures/factors_idh.png", "figures/factors_grade.png",
                "figures/factors_subtype.png", "figures/factors_script_alert_1_script.png",
                "tables/variance_explained.csv", "tables/variance_explained.tex",
                "tables/associations.csv", "tables/associations.tex",
                "tables/top_loadings.csv", "tables/top_loadings.tex"]
    for rel in expected:
        assert (out / rel).stat().st_size > 0, rel
    page = path.read_text()
    for heading in ["Variance explained", "Associations with clinical/molecular labels", "Factors",
                    "Convergence", "Specification"]:
        assert f"<h2>{heading}</h2>" in page
    assert "<h3>Factor plots</h3>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "GBM &lt;demo&gt;" in page and "&lt;decreasing&gt;" in page and "&lt;b&gt;" in page
    assert "Factor1" in page.split("shared by more than one view")[1].split("</p>")[0]
    warn_box = page.split('<div class="warn" role="alert">')[1].split("</div>")[0]
    assert "did not meet its convergence criterion" in warn_box and "seed" in page
    assert "e-" in page  # p-values in scientific notation


def test_write_report_one_factor_no_labels_extra(tmp_path):
    z = make_factors(k=1)
    ve = make_ve(k=1)
    lab = pd.DataFrame({"idh": np.arange(N) % 2}, index=z.subject.values)
    path = write_report(tmp_path, title="t", variance_explained=ve, factors=z, labels=lab,
                        diagnostics={"method": "nuts"})
    assert (tmp_path / "figures" / "factors_idh.png").exists()
    assert not (tmp_path / "figures" / "elbo.png").exists()
    path = write_report(tmp_path / "b", title="t", variance_explained=ve, factors=z,
                        diagnostics={})
    assert "No labels were given" in path.read_text()
    assert not (tmp_path / "b" / "tables" / "associations.csv").exists()
