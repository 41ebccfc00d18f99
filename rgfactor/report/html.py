"""The HTML report of a fit: figures, tables and diagnostics in one self-contained page.

Every user-supplied string (title, label and view names, warnings, spec text) is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from rgfactor.dims import FACTOR, VIEW
from rgfactor.report.figures import (plot_elbo, plot_factor_scatter, plot_rhat_ess,
                                     plot_variance_explained, save_figure)
from rgfactor.report.tables import association_table, variance_explained_table, write_table

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #345;padding-bottom:.2em}h2{color:#345;margin-top:1.8em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border-bottom:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#eef2f6}td.s,th.s{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.85em}
.warn{background:#fff4e0;border-left:4px solid #e69500;padding:.5em 1em}
.note{color:#555;font-size:.9em}
"""
_P_COLUMNS = ("p_value", "p_adj")
_KNOWN_KEYS = ("method", "n_steps", "converged", "wall_time_s", "warnings", "elbo", "summary")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def slug(text: object) -> str:
    """A file-name-safe form of ``text`` (letters, digits, ``_ -``), never empty."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_") or "x"


def _fmt(value: object, column: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    if isinstance(value, (float, np.floating)):
        return f"{value:.1e}" if column in _P_COLUMNS else f"{value:.3g}"
    return _esc(value)


def html_table(df: pd.DataFrame, *, max_rows: int | None = None) -> str:
    """An escaped HTML table of ``df`` (index shown unless a RangeIndex); p-values as 1.2e-05."""
    show_index = not isinstance(df.index, pd.RangeIndex)
    shown = df if max_rows is None else df.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    head = ([f'<th class="s">{_esc(df.index.name or "")}</th>'] if show_index else []) + [
        f'<th{"" if n else " class=s"}>{_esc(c)}</th>' for c, n in zip(df.columns, numeric)]
    rows = []
    for idx, row in zip(shown.index, shown.itertuples(index=False)):
        cells = ([f'<td class="s">{_esc(idx)}</td>'] if show_index else []) + [
            f'<td{"" if n else " class=s"}>{_fmt(v, str(c))}</td>'
            for v, c, n in zip(row, df.columns, numeric)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="note">Showing {len(shown)} of {len(df)} rows; all rows are in the CSV.</p>'
            if len(shown) < len(df) else "")
    return ("<table><thead><tr>" + "".join(head) + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>" + more)


def shared_factors(ve: xr.DataArray, threshold: float = 0.01) -> list[str]:
    """Factors explaining more than ``threshold`` of the variance in at least two views.

    Parameters
    ----------
    ve : DataArray, dims (view, factor), fractions.
    """
    active = (ve.transpose(VIEW, FACTOR) > threshold).sum(VIEW)
    return [str(f) for f, n in zip(ve[FACTOR].values, active.values) if n >= 2]


def _img(rel: str, alt: str) -> str:
    return f'<img src="{_esc(rel)}" alt="{_esc(alt)}">'


def _kv_table(items: list[tuple[str, object]]) -> str:
    rows = "".join(f'<tr><th class="s">{_esc(k)}</th><td class="s">{_esc(v)}</td></tr>'
                   for k, v in items)
    return f"<table><tbody>{rows}</tbody></table>"


def _short(value: object, limit: int = 200) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _diagnostics_section(diagnostics: dict, out: Path) -> str:
    parts = []
    run = [(k, diagnostics[k]) for k in ("method", "n_steps", "converged") if k in diagnostics]
    if "wall_time_s" in diagnostics:
        run.append(("wall time (s)", f"{float(diagnostics['wall_time_s']):.1f}"))
    if run:
        parts.append(_kv_table(run))
    if diagnostics.get("converged") is False:
        parts.append('<p class="warn">The fit did <b>not</b> meet its convergence criterion; '
                     "treat the results as preliminary.</p>")
    warns = list(diagnostics.get("warnings") or [])
    if warns:
        parts.append('<div class="warn"><b>Warnings</b><ul>'
                     + "".join(f"<li>{_esc(w)}</li>" for w in warns) + "</ul></div>")
    else:
        parts.append('<p class="note">No warnings were recorded.</p>')
    elbo = diagnostics.get("elbo")
    if elbo is not None and len(elbo) > 0:
        save_figure(plot_elbo(np.asarray(elbo, dtype=float)), out / "figures" / "elbo.png")
        parts.append(f"<p>Final loss: {float(np.asarray(elbo, dtype=float)[-1]):.6g} "
                     f"after {len(elbo)} recorded steps.</p>" + _img("figures/elbo.png", "ELBO trace"))
    summary = diagnostics.get("summary")
    if summary is not None:
        sdf = pd.DataFrame(summary)
        if {"r_hat", "ess_bulk"} <= set(sdf.columns):
            save_figure(plot_rhat_ess(sdf), out / "figures" / "rhat_ess.png")
            r = pd.to_numeric(sdf["r_hat"], errors="coerce")
            e = pd.to_numeric(sdf["ess_bulk"], errors="coerce")
            parts.append(_kv_table([("parameters summarised", len(sdf)),
                                    ("max R-hat", f"{r.max():.3f}"),
                                    ("parameters with R-hat > 1.01", int((r > 1.01).sum())),
                                    ("min bulk ESS", f"{e.min():.0f}")])
                         + _img("figures/rhat_ess.png", "R-hat and ESS histograms"))
        else:
            parts.append('<p class="note">The posterior summary has no r_hat/ess_bulk columns.</p>')
    other = [(k, _short(v)) for k, v in diagnostics.items() if k not in _KNOWN_KEYS]
    if other:
        parts.append("<h3>Other diagnostics</h3>" + _kv_table(other))
    return "\n".join(parts)


def write_report(out_dir: str | Path, *, title: str, variance_explained: xr.DataArray,
                 factors: xr.DataArray, labels: pd.DataFrame | None = None,
                 diagnostics: dict, spec_text: str = "",
                 extra_tables: dict[str, pd.DataFrame] | None = None,
                 shared_threshold: float = 0.01, top_n: int = 20,
                 description: str | None = None) -> Path:
    """Write figures, tables and ``report.html`` of a fit into ``out_dir``.

    Parameters
    ----------
    out_dir : folder; ``figures/`` and ``tables/`` are created inside (existing files replaced).
    title : page title.
    variance_explained : DataArray, dims (view, factor), fractions.
    factors : DataArray, dims (subject, factor), posterior mean.
    labels : optional DataFrame, index = subject IDs; one association test per (factor, column)
        and one figure ``figures/factors_<label>.png`` per column (label made file-name safe).
    diagnostics : dict with optional keys method, n_steps, converged, warnings (list of str),
        elbo (list of floats), summary (DataFrame or dict of lists with r_hat, ess_bulk),
        wall_time_s; other keys are shown as a key/value table.
    spec_text : the model specification (e.g. the TOML), shown verbatim.
    extra_tables : name -> DataFrame, written to ``tables/<name>.{csv,tex}`` and shown.
    shared_threshold : a factor is "shared" if it explains more than this fraction of the
        variance in at least two views.
    top_n : association rows shown in the page (all rows are in the CSV).
    description : short text under the title; a default one is generated.

    Returns
    -------
    Path of ``out_dir/report.html``.
    """
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    ve_df = variance_explained_table(variance_explained)
    n_sub, n_fac = factors.sizes.get("subject", 0), factors.sizes.get(FACTOR, 0)
    desc = description or (f"Latent-factor model of {n_sub} subjects with {n_fac} factors "
                           f"across {len(ve_df)} views ({', '.join(map(str, ve_df.index))}).")
    body = [f"<h1>{_esc(title)}</h1>", f"<p>{_esc(desc)}</p>"]

    save_figure(plot_variance_explained(variance_explained),
                out / "figures" / "variance_explained.png")
    write_table(ve_df, out / "tables", "variance_explained",
                caption="Fraction of variance explained per view and factor")
    shared = shared_factors(variance_explained, shared_threshold)
    pct = f"{100 * shared_threshold:g}%"
    sentence = (f"Factors shared by more than one view (variance explained &gt; {pct} in at "
                f"least two views): {_esc(', '.join(shared))}." if shared else
                f"No factor explains more than {pct} of the variance in two or more views.")
    body += ["<h2>Variance explained</h2>",
             _img("figures/variance_explained.png", "variance explained per view and factor"),
             f"<p>{sentence}</p>", html_table(ve_df)]

    body.append("<h2>Associations with clinical/molecular labels</h2>")
    figs = []
    if labels is None or labels.shape[1] == 0:
        body.append('<p class="note">No labels were given.</p>')
    else:
        assoc = association_table(factors, labels)
        write_table(assoc, out / "tables", "associations",
                    caption="Factor-label associations (BH-adjusted p-values)")
        body.append(f"<p>Rank-based tests (Mann-Whitney U, Kruskal-Wallis, Spearman) of each "
                    f"factor against each label; p_adj is Benjamini-Hochberg adjusted over all "
                    f"{len(assoc)} tests. Top {min(top_n, len(assoc))} rows:</p>")
        body.append(html_table(assoc, max_rows=top_n))
        if assoc.attrs.get("skipped"):
            body.append('<p class="note">Skipped labels: ' + _esc(", ".join(
                f"{k} ({v})" for k, v in assoc.attrs["skipped"].items())) + "</p>")
        names = [str(f) for f in factors[FACTOR].values]
        used: set[str] = set()
        for col in labels.columns:
            stem, i = f"factors_{slug(col)}", 2
            while stem in used:
                stem, i = f"factors_{slug(col)}_{i}", i + 1
            used.add(stem)
            # the two factors most associated with this label (smallest p), in factor order
            ranked = [f for f in assoc.loc[assoc["label"] == col].sort_values("p_value")["factor"] if f in names]
            pair = sorted(ranked[:2], key=names.index) if len(ranked) >= 2 else names[:2]
            fig = plot_factor_scatter(factors, labels, col, x=pair[0], y=pair[1] if len(pair) > 1 else None)
            save_figure(fig, out / "figures" / f"{stem}.png")
            figs.append(_img(f"figures/{stem}.png", f"factors by {col}"))
    body.append("<h2>Factor plots</h2>")
    body += figs or ['<p class="note">No labels to colour the factors by.</p>']

    if extra_tables:
        body.append("<h2>Additional tables</h2>")
        for name, df in extra_tables.items():
            write_table(df, out / "tables", slug(name), caption=str(name))
            body += [f"<h3>{_esc(name)}</h3>", html_table(df, max_rows=50)]

    body += ["<h2>Diagnostics</h2>", _diagnostics_section(dict(diagnostics), out),
             "<h2>Specification</h2>",
             f"<pre>{_esc(spec_text)}</pre>" if spec_text else
             '<p class="note">No specification text was given.</p>']
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
