"""What a benchmark writes: the tidy results table, the summary (methods x tasks, mean and spread over
repetitions, best per column marked), figures and an HTML page.

Figures are :class:`matplotlib.figure.Figure` objects saved with the Agg canvas (no pyplot, no global
state); the page is a Jinja2 template with autoescaping (``templates/report.html.j2``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

ID_COLUMNS = ["task", "method", "repeat", "fold", "seed", "status", "error", "n_train", "n_test"]
PRIMARY = {"class": "auc", "survival": "c_index", None: "recovery_mean"}
HIGHER = ("recovery", "auc", "accuracy", "c_index", "lpd_")
LOWER = ("wall_s", "fit_s", "peak_mb")
COVERAGE = re.compile(r"coverage(\d+)_")
FIGURE_METRICS = ("auc", "c_index", "recovery_mean", "accuracy")


def results_table(rows: list[dict], config) -> pd.DataFrame:
    """One row per unit of ``config`` found in ``rows`` (the log; the last row of a unit), in config order; identity
    columns first, then metrics."""
    order = {u.id: i for i, u in enumerate(config.units())}
    latest = {r["unit_id"]: r for r in rows if r["unit_id"] in order}   # a retried unit: its last row
    df = pd.DataFrame(list(latest.values()))
    if df.empty:
        return pd.DataFrame(columns=ID_COLUMNS)
    df = df.assign(_o=df["unit_id"].map(order)).sort_values("_o").drop(columns="_o").reset_index(drop=True)
    first = [c for c in ID_COLUMNS if c in df.columns]
    return df[first + [c for c in df.columns if c not in first and c != "unit_id"] + ["unit_id"]]


def metric_columns(results: pd.DataFrame) -> list[str]:
    """Numeric result columns that are metrics (identity and bookkeeping columns excluded)."""
    skip = set(ID_COLUMNS) | {"unit_id", "converged", "engine"}
    cols = [c for c in results.columns if c not in skip and pd.api.types.is_numeric_dtype(results[c])]
    order = ("auc", "accuracy", "c_index", "recovery_mean", "recovery_min", "lpd_", "coverage", "wall_s", "fit_s",
             "peak_mb")
    return sorted(cols, key=lambda c: (next((i for i, p in enumerate(order) if c.startswith(p)), len(order)), c))


def better(metric: str):
    """'higher', 'lower' or a nominal value (coverage: closest to the level is best); None: no ranking."""
    m = COVERAGE.match(metric)
    if m:
        return int(m.group(1)) / 100
    if metric.startswith(HIGHER):
        return "higher"
    if metric.startswith(LOWER):
        return "lower"
    return None


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Long summary: task, method, metric, mean, sd (over repetitions and folds), n (fits with a value),
    n_failed (error rows of that task and method), best (True for the best mean of a task's metric)."""
    ok = results[results["status"] == "ok"]
    parts = []
    for metric in metric_columns(results):
        g = ok.groupby(["task", "method"], sort=False)[metric]
        part = pd.DataFrame({"mean": g.mean(), "sd": g.std(), "n": g.count()}).reset_index()
        part = part[part["n"] > 0]
        part.insert(2, "metric", metric)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["task", "method", "metric", "mean", "sd", "n", "n_failed", "best"])
    out = pd.concat(parts, ignore_index=True)
    failed = results[results["status"] == "error"].groupby(["task", "method"]).size()
    out["n_failed"] = [int(failed.get((t, m), 0)) for t, m in zip(out["task"], out["method"])]
    out["best"] = False
    for (task, metric), grp in out.groupby(["task", "metric"]):
        rule = better(metric)
        if rule is None or len(grp) < 2:
            continue
        key = grp["mean"] if rule == "higher" else -grp["mean"] if rule == "lower" else -(grp["mean"] - rule).abs()
        out.loc[key.idxmax(), "best"] = True
    return out


def wide(summary: pd.DataFrame, metric: str, tasks: list, methods: list) -> pd.DataFrame:
    """Methods x tasks of ``metric``: 'mean ± sd' strings, best marked with a trailing '*'."""
    part = summary[summary["metric"] == metric]
    cells = {}
    for _, r in part.iterrows():
        sd = "" if r["n"] < 2 or pd.isna(r["sd"]) else f" ± {_fmt(r['sd'], metric)}"
        cells[(r["method"], r["task"])] = f"{_fmt(r['mean'], metric)}{sd}{' *' if r['best'] else ''}"
    cols = [t for t in tasks if any((m, t) in cells for m in methods)]
    return pd.DataFrame([[cells.get((m, t), "–") for t in cols] for m in methods], index=methods, columns=cols)


def _fmt(v: float, metric: str) -> str:
    if metric.startswith(("wall_s", "fit_s", "peak_mb", "lpd_")):
        return f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"
    return f"{v:.3f}"


def markdown(df: pd.DataFrame) -> str:
    """A pipe table of a small frame (index = first column)."""
    head = "| method | " + " | ".join(map(str, df.columns)) + " |"
    lines = [head, "|---" * (len(df.columns) + 1) + "|"]
    for idx, row in df.iterrows():
        lines.append(f"| {idx} | " + " | ".join(f"**{v[:-2]}**" if str(v).endswith(" *") else str(v) for v in row)
                     + " |")
    return "\n".join(lines)


def _grid(n: int, width: float = 3.4, height: float = 2.8):
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_metric(results: pd.DataFrame, metric: str, methods: list) -> Figure | None:
    """One panel per task: each fit's ``metric`` (dots) and the mean per method (bar)."""
    ok = results[(results["status"] == "ok") & results[metric].notna()] if metric in results else results.iloc[:0]
    tasks = list(dict.fromkeys(ok["task"]))
    if not tasks:
        return None
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        sub = ok[ok["task"] == task]
        shown = [m for m in methods if m in set(sub["method"])]
        for i, m in enumerate(shown):
            vals = sub.loc[sub["method"] == m, metric].to_numpy(float)
            ax.barh(i, vals.mean(), color="#9ec3e6", height=0.6)
            ax.plot(vals, np.full(len(vals), i), "o", color="#1f4e79", ms=3)
        ax.set_yticks(range(len(shown)), shown, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(task, fontsize=9)
        ax.set_xlabel(metric, fontsize=8)
        if metric in ("auc", "c_index"):
            ax.axvline(0.5, color="0.5", lw=0.8, ls="--")
    return fig


def plot_time_vs_metric(results: pd.DataFrame, tasks: dict, methods: list) -> Figure | None:
    """One panel per task: mean wall time (log scale) vs mean primary metric, one point per method."""
    ok = results[results["status"] == "ok"]
    panels = [(t, PRIMARY[k]) for t, k in tasks.items() if PRIMARY[k] in ok and ok.loc[ok["task"] == t, PRIMARY[k]].notna().any()]
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for ax, (task, metric) in zip(axes, panels):
        g = ok[ok["task"] == task].groupby("method")[[metric, "wall_s"]].mean().dropna()
        for m, r in g.iterrows():
            ax.scatter(r["wall_s"], r[metric], color=colours[m], s=18)
            ax.annotate(m, (r["wall_s"], r[metric]), fontsize=6, xytext=(3, 2), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("wall time per fit (s)", fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
    return fig


def write_outputs(out, config, rows: list[dict], run_info: dict) -> dict:
    """Write results.csv, summary.csv, summary.md, figures/*.png and report.html into ``out``;
    returns {name: path}."""
    from rgfactor.benchmark.report import render_report

    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    results = results_table(rows, config)
    results.to_csv(out / "results.csv", index=False)
    summary = summary_table(results)
    summary.to_csv(out / "summary.csv", index=False)
    tasks = {t["name"]: (None if t.get("target") is None else "survival" if isinstance(t["target"], dict) else "class")
             for t in config.tasks}
    methods = [m["name"] for m in config.methods]
    metrics = [m for m in metric_columns(results) if m in set(summary["metric"])]
    tables = {m: wide(summary, m, list(tasks), methods) for m in metrics}
    files = {"results": out / "results.csv", "summary": out / "summary.csv"}
    for metric in FIGURE_METRICS:
        fig = plot_metric(results, metric, methods) if metric in results else None
        if fig is not None:
            files[f"fig_{metric}"] = out / "figures" / f"{metric}_by_method.png"
            fig.savefig(files[f"fig_{metric}"], dpi=110)
    fig = plot_time_vs_metric(results, tasks, methods)
    if fig is not None:
        files["fig_time"] = out / "figures" / "time_vs_metric.png"
        fig.savefig(files["fig_time"], dpi=110)
    failures = results[results["status"] != "ok"][["task", "method", "repeat", "fold", "status", "error"]]
    md = [f"# Benchmark '{config.name}'", "", config.description.strip(), "",
          f"{run_info['n_units']} fits ({int((results['status'] == 'ok').sum())} ok, "
          f"{int((results['status'] == 'skipped').sum())} skipped as not applicable, "
          f"{int((results['status'] == 'error').sum())} failed); this run: {run_info['n_run']} fitted, "
          f"{run_info['n_reused']} reused from the log, {run_info['wall_s']:.0f} s on {run_info['workers']} worker(s).",
          "", "Cells: mean ± sd over repetitions and folds; bold = best mean in the column (coverage: closest to nominal).", ""]
    for m in metrics:
        md += [f"## {m}", "", markdown(tables[m]), ""]
    (out / "summary.md").write_text("\n".join(md) + "\n")
    files["summary_md"] = out / "summary.md"
    files["report"] = render_report(out / "report.html", config=config, run_info=run_info, tables=tables,
                                    failures=failures, figures={k: v.relative_to(out) for k, v in files.items()
                                                                if k.startswith("fig_")})
    return files
