"""The benchmark harness (rgfactor.benchmark): table, failures, resume, serial = parallel, metrics.

The harness runs are tiny (two simulated tasks, three cheap methods: early-fusion PCA, the docs'
adapter example, a method that always raises) so that they check bookkeeping, not statistics; one
quick rgfactor GFA unit checks the rgfactor adapter in-process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("distributed")

from rgfactor.benchmark import BenchmarkConfig, run_benchmark  # noqa: E402
from rgfactor.benchmark.metrics import factor_recovery, harrell_c  # noqa: E402
from rgfactor.benchmark.survival import CoxRidge  # noqa: E402
from rgfactor.errors import RGFactorError, SpecError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

FAILING = '''
from rgfactor.benchmark import Method


class Broken(Method):
    name = "broken"

    def fit(self, train, target, seed):
        raise ValueError("deliberate failure in fit")
'''


def _docs_adapter() -> str:
    """The adapter example of docs/benchmark.md, verbatim (the docs example is what runs here)."""
    text = (ROOT / "docs" / "benchmark.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return next(b for b in blocks if "class RandomForestFusion(Method)" in b)


def _config(folder: Path) -> BenchmarkConfig:
    (folder / "adapters.py").write_text(_docs_adapter())
    (folder / "broken.py").write_text(FAILING)
    sim = {"n_subjects": 80, "n_factors": 2, "n_sites": 0, "missing_views": 0.0,
           "views": {"a": ["gaussian", 12], "b": ["gaussian", 8]}}
    raw = {
        "name": "tiny", "seed": 3, "description": "two tasks <b>escaped</b>",
        "task": [
            {"name": "sim_one", "source": "simulate", "options": sim, "target": "outcome",
             "split": {"n_splits": 4, "folds": [0], "repeats": 2}},
            {"name": "sim_two", "source": "simulate", "options": {**sim, "missing_views": 0.3},
             "target": "true_factor1_positive", "split": {"n_splits": 3, "folds": [0, 1]}},
        ],
        "method": [
            {"name": "pca", "kind": "early_pca", "params": {"n_components": 3}},
            {"name": "forest", "kind": "adapters.py:RandomForestFusion", "params": {"n_estimators": 30}},
            {"name": "broken", "kind": "broken.py:Broken"},
        ],
    }
    return BenchmarkConfig.from_dict(raw, root=folder)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def parallel(folder):
    """The tiny config on a 2-worker LocalCluster."""
    cfg = _config(folder)
    return cfg, run_benchmark(cfg, folder / "parallel", n_workers=2)


def _metrics(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    keep = ["task", "method", "repeat", "fold", "seed", "status", "error", "recovery_mean", "recovery_min", "auc",
            "accuracy"]
    return df[keep].sort_values(["task", "method", "repeat", "fold"]).reset_index(drop=True)


@pytest.mark.timeout(300)
def test_one_row_per_fit_and_failures_are_rows(parallel):
    cfg, res = parallel
    units = cfg.units()
    assert len(units) == (2 + 2) * 3 and res["info"]["n_run"] == len(units)
    table = pd.read_csv(res["files"]["results"])
    assert len(table) == len(units)
    assert set(table["unit_id"]) == {u.id for u in units}
    broken = table[table["method"] == "broken"]
    assert (broken["status"] == "error").all()
    assert broken["error"].str.contains("ValueError: deliberate failure in fit").all()
    ok = table[table["method"] != "broken"]
    assert (ok["status"] == "ok").all() and ok["auc"].notna().all()
    assert ok.loc[ok["method"] == "pca", "recovery_mean"].between(0, 1).all()
    assert ok.loc[ok["method"] == "forest", "recovery_mean"].isna().all()   # no factors: no recovery
    assert len(set(table["seed"])) == len(units)                            # one seed per fit
    summary = pd.read_csv(res["files"]["summary"])
    assert summary.groupby(["task", "metric"])["best"].sum().le(1).all()
    assert (summary.loc[summary["method"] == "broken", "n"].sum() == 0)
    html = res["files"]["report"].read_text()
    assert "&lt;b&gt;escaped&lt;/b&gt;" in html and "<b>escaped</b>" not in html
    assert "deliberate failure in fit" in html
    assert res["files"]["fig_auc"].stat().st_size > 0 and res["files"]["fig_time"].stat().st_size > 0


@pytest.mark.timeout(300)
def test_resume_after_interruption_redoes_only_missing_fits(parallel, folder):
    cfg, _ = parallel
    out = folder / "resumed"
    first = run_benchmark(cfg, out, scheduler="serial", tasks=["sim_one"])      # 'interrupted' after one task
    assert first["info"]["n_run"] == 2 * 3
    log = out / "fits.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])   # torn last write
    status = []
    second = run_benchmark(cfg, out, scheduler="serial", progress=status.append)
    assert second["info"]["n_run"] == 1 + 2 * 3 and second["info"]["n_reused"] == 5
    assert len(status) == 1 + 2 * 3 and status[0].startswith("[1/7] ")   # one status line per fit run now
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == len({r["unit_id"] for r in rows}) == len(cfg.units())
    third = run_benchmark(cfg, out, scheduler="serial")
    assert third["info"]["n_run"] == 0


@pytest.mark.timeout(300)
def test_serial_and_parallel_give_identical_results(parallel, folder):
    """Same seeds, same numbers: the resumed serial run equals the 2-worker run exactly."""
    _, res = parallel
    test_resume = folder / "resumed" / "results.csv"
    if not test_resume.exists():
        run_benchmark(parallel[0], folder / "resumed", scheduler="serial")
    pd.testing.assert_frame_equal(_metrics(res["files"]["results"]), _metrics(test_resume), check_exact=True)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rgfactor_adapter_recovers_factors_and_is_calibrated(folder):
    """One quick GFA (CAVI) unit, in-process: N=150 subjects, two Gaussian views (30 + 20 features),
    K=2 true factors. Recovery >= 0.9 (the engine reaches >= 0.97 at this size, tests/test_recovery.py);
    coverage of the 90% predictive intervals of the 37 held-out subjects' entries of view a in
    [0.8, 0.97]: 1,110 entries, correlated within subject, plug-in globals (slightly narrow)."""
    raw = {"name": "gfa", "task": [{"name": "sim", "source": "simulate", "target": "outcome",
                                    "options": {"n_subjects": 150, "n_factors": 2, "n_sites": 0, "missing_views": 0.0,
                                                "missing_entries": 0.0,
                                                "views": {"a": ["gaussian", 30], "b": ["gaussian", 20]}},
                                    "split": {"n_splits": 4, "folds": [0]}}],
           "method": [{"name": "gfa", "kind": "gfa", "params": {"n_factors": 3, "method": "cavi", "num_draws": 100,
                                                                 "heldout_density": False}}]}
    res = run_benchmark(BenchmarkConfig.from_dict(raw, root=folder), folder / "gfa", scheduler="serial")
    row = pd.read_csv(res["files"]["results"]).iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["engine"] == "cavi" and row["recovery_mean"] >= 0.9
    assert 0.8 <= row["coverage90_a"] <= 0.97
    assert "lpd_a" not in row.index and row["auc"] > 0.5   # lpd: model_selection's, tested there


# ----------------------------------------------------------------------------- metrics
def _harrell_brute(time, event, risk):
    """Harrell's C by enumerating ordered pairs (the definition, written independently)."""
    num = den = 0.0
    for i in range(len(time)):
        for j in range(len(time)):
            if event[i] and (time[i] < time[j] or (time[i] == time[j] and not event[j])):
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


def test_harrell_c_equals_kendall_tau_without_censoring():
    """No censoring and no ties: C = (1 - tau) / 2 with Kendall's tau between time and risk."""
    rng = np.random.default_rng(0)
    time, risk = rng.exponential(size=60), rng.normal(size=60)
    tau = stats.kendalltau(time, risk).statistic
    assert harrell_c(time, np.ones(60), risk) == pytest.approx((1 - tau) / 2, abs=1e-12)


def test_harrell_c_with_censoring_and_ties():
    # hand count: comparable (i fails first): (0,1) (0,2) (0,3) (2,3) (4,2)... enumerated by the brute force
    time = np.array([1.0, 2.0, 2.0, 3.0, 1.0, 4.0])
    event = np.array([1, 0, 1, 1, 0, 0])
    risk = np.array([3.0, 1.0, 2.0, 2.0, 0.5, 0.1])
    assert harrell_c(time, event, risk) == pytest.approx(_harrell_brute(time, event, risk))
    # a tiny case counted by hand: pairs (0,1): concordant, (0,2): tie in risk -> 1/2; (2,1) equal time,
    # 2 event and 1 censored: comparable, risk 3 > 1 concordant. C = (1 + 0.5 + 1) / 3
    assert harrell_c([1, 2, 2], [1, 0, 1], [3, 1, 3]) == pytest.approx(2.5 / 3)
    rng = np.random.default_rng(1)
    t = rng.integers(1, 8, 80).astype(float)
    e = rng.random(80) < 0.6
    r = rng.integers(0, 5, 80).astype(float)
    assert harrell_c(t, e, r) == pytest.approx(_harrell_brute(t, e, r))
    assert np.isnan(harrell_c([1, 2], [0, 0], [1, 2]))


def test_cox_ridge_recovers_coefficients():
    """Exponential proportional hazards, N=1500, 30% censoring-ish, b = (0.8, -0.5, 0): estimates within
    0.15 (about 4 standard errors at this N) with a negligible penalty."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1500, 3))
    b = np.array([0.8, -0.5, 0.0])
    t = rng.exponential(1.0 / np.exp(x @ b))
    c = rng.exponential(2.0, size=1500)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    fit = CoxRidge(penalty=1e-3).fit(x, time, event)
    np.testing.assert_allclose(fit.coef_ / fit.sd_, b, atol=0.15)
    assert harrell_c(time, event, fit.risk(x)) > 0.65


def test_factor_recovery_is_invariant_and_counts_missing_factors():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(200, 3))
    shuffled = -2.0 * z[:, [2, 0, 1]]
    assert factor_recovery(z, shuffled) == pytest.approx((1.0, 1.0))
    mean, low = factor_recovery(z, z[:, :2])
    assert low == 0.0 and mean == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- config and CLI
@pytest.mark.parametrize("raw,match", [
    ({"task": [{"name": "t", "source": "simulate", "colour": 1}], "method": [{"name": "m", "kind": "early_pca"}]},
     "unknown key"),
    ({"task": [{"name": "t", "source": "simulate"}], "method": [{"name": "m"}]}, "needs a 'kind'"),
    ({"task": [{"name": "t", "source": "simulate"}], "method": [{"name": "m", "kind": "x", "tasks": ["nope*"]}]},
     "matches no task"),
    ({"task": [{"name": "t", "source": "simulate"}, {"name": "t", "source": "cll"}],
      "method": [{"name": "m", "kind": "x"}]}, "repeated"),
])
def test_config_errors_name_the_entry(raw, match):
    with pytest.raises(SpecError, match=match):
        BenchmarkConfig.from_dict(raw)


def test_unknown_method_kind_is_a_row_not_a_crash(folder):
    raw = {"task": [{"name": "t", "source": "simulate", "target": "outcome",
                     "options": {"n_subjects": 40, "n_factors": 2, "n_sites": 0, "views": {"a": ["gaussian", 5]}},
                     "split": {"n_splits": 2, "folds": [0]}}],
           "method": [{"name": "m", "kind": "no_such_method"}]}
    res = run_benchmark(BenchmarkConfig.from_dict(raw, root=folder), folder / "unknown", scheduler="serial")
    row = pd.read_csv(res["files"]["results"]).iloc[0]
    assert row["status"] == "error" and "unknown method kind 'no_such_method'" in row["error"]


def test_missing_dask_is_a_clear_error(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(RGFactorError, match=r"rgfactor\[bench\]"):
        run_benchmark(_config(folder), folder / "nodask")


def test_cli_help_does_not_import_dask_or_jax():
    code = ("import sys\nfrom rgfactor.cli import main\ntry:\n    main(['bench', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint(sorted(m for m in ('dask', 'distributed', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "--scheduler" in out.stdout and out.stdout.strip().endswith("[]")
