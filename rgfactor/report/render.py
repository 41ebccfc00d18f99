"""Rendering plumbing of the report: the Jinja2 environment, and a writer for figures and tables.

Templates live in ``rgfactor/report/templates`` (package data). HTML is autoescaped, so every string a
user supplies (title, labels, feature names, warnings, spec text) is escaped by Jinja2. Tables reach
the templates as rows of already formatted cell text (:func:`table_view`); figures as paths.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import ChoiceLoader, DictLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.figure import Figure

from rgfactor.report.figures import save_figure
from rgfactor.report.tables import to_latex, write_table

P_COLUMNS = ("p_value", "p_adj", "lfsr")   # shown as 1.2e-05
EXTRA_TEMPLATES: dict[str, str] = {}      # name -> Jinja source, for sections registered with inline templates


def environment() -> Environment:
    """The report's Jinja2 environment: package templates plus inline ones of registered sections."""
    env = Environment(loader=ChoiceLoader([DictLoader(EXTRA_TEMPLATES), PackageLoader("rgfactor.report", "templates")]),
                      autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = lambda v, digits=1: "–" if v is None or not np.isfinite(v) else f"{100 * v:.{digits}f}%"
    env.filters["num"] = lambda v: cell_text(v, "")
    return env


def slug(text: object) -> str:
    """A file-name-safe form of ``text`` (letters, digits, ``_ -``), never empty."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_") or "x"


def cell_text(value: object, column: str) -> str:
    """A table cell as text: p-values/lfsr as 1.2e-05, other floats to 3 significant digits, – for missing."""
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if column in P_COLUMNS:
            return "0" if value == 0 else f"{value:.1e}" if value < 0.001 else f"{value:.3f}"
        return f"{value:.3g}"
    return str(value)


def table_view(df: pd.DataFrame, *, max_rows: int | None = None, index: bool | None = None) -> dict:
    """A DataFrame as the templates' table: ``columns`` [(name, numeric)], ``rows`` [[(text, numeric)]],
    ``n_rows`` (all rows), ``shown``. The index is a first column unless a RangeIndex (or ``index``)."""
    show_index = (not isinstance(df.index, pd.RangeIndex)) if index is None else index
    shown = df if max_rows is None else df.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    columns = ([(str(df.index.name or ""), False)] if show_index else []) + [
        (str(c), n) for c, n in zip(df.columns, numeric)]
    rows = []
    for idx, row in zip(shown.index, shown.itertuples(index=False)):
        cells = [(str(idx), False)] if show_index else []
        cells += [(cell_text(v, str(c)), n) for v, c, n in zip(row, df.columns, numeric)]
        rows.append(cells)
    return {"columns": columns, "rows": rows, "n_rows": len(df), "shown": len(shown)}


class Writer:
    """Writes the report's figures (PNG + PDF) and tables (CSV + LaTeX) under ``out`` and remembers them.

    File stems are made unique (``_2``, ``_3`` ...) so two labels with the same slug do not collide.
    """

    def __init__(self, out: str | Path):
        self.out = Path(out)
        (self.out / "figures").mkdir(parents=True, exist_ok=True)
        (self.out / "tables").mkdir(parents=True, exist_ok=True)
        self._stems: set[str] = set()
        self.figures: list[str] = []
        self.tables: list[str] = []

    def _unique(self, kind: str, stem: str) -> str:
        stem, base, i = slug(stem), slug(stem), 2
        while f"{kind}/{stem}" in self._stems:
            stem, i = f"{base}_{i}", i + 1
        self._stems.add(f"{kind}/{stem}")
        return stem

    def figure(self, fig: Figure, stem: str, alt: str, caption: str = "") -> dict:
        """Save ``fig`` as figures/<stem>.png and .pdf; returns the template's figure dict."""
        stem = self._unique("figures", stem)
        save_figure(fig, self.out / "figures" / f"{stem}.png")
        self.figures.append(f"figures/{stem}.png")
        return {"src": f"figures/{stem}.png", "pdf": f"figures/{stem}.pdf", "alt": alt, "caption": caption}

    def table(self, df: pd.DataFrame, stem: str, caption: str, *, shown: pd.DataFrame | None = None,
              latex: pd.DataFrame | None = None, max_rows: int | None = None, float_format: str = "%.3g") -> dict:
        """Write ``df`` as tables/<stem>.csv (all rows, full precision) and tables/<stem>.tex (booktabs).

        ``shown`` (default ``df``) is what the page shows (at most ``max_rows`` rows), e.g. the active
        factors only; ``latex`` (default ``shown``) what the LaTeX table holds, e.g. the significant rows.
        Returns the template's table dict (:func:`table_view` plus csv, tex, caption, n_all)."""
        stem = self._unique("tables", stem)
        shown = df if shown is None else shown
        latex = shown if latex is None else latex
        write_table(df, self.out / "tables", stem, caption=caption, float_format=float_format)
        if latex is not df:
            (self.out / "tables" / f"{stem}.tex").write_text(
                to_latex(latex, caption=caption, label=stem, float_format=float_format), encoding="utf-8")
        self.tables.append(f"tables/{stem}.csv")
        return {**table_view(shown, max_rows=max_rows), "csv": f"tables/{stem}.csv", "tex": f"tables/{stem}.tex",
                "caption": caption, "n_all": len(df), "n_latex": len(latex)}
