"""The report as a reader meets it: every figure and file it links exists, every table has rows, category
labels are names, the circular-label rule holds, the LaTeX tables compile (or at least parse), and the
Methods text cites exactly the BibTeX entries written beside it."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rgfactor.report.render import EXTRA_TEMPLATES
from rgfactor.report.sections import SECTIONS, register_section

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = ROOT.parent / "shared" / "data"


class Page(HTMLParser):
    """Links, images, tables (rows per table) and the text of non-numeric cells of an HTML page."""

    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.rows, self.text_cells, self.h2 = [], [], [], [], []
        self._cell = self._h2 = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a["src"])
        elif tag == "a":
            self.hrefs.append(a["href"])
        elif tag == "table":
            self.rows.append(0)
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows[-1] += 1
        elif tag == "td" and "s" in (a.get("class") or "").split():
            self._cell = ""
        elif tag == "h2":
            self._h2 = ""

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.text_cells.append(self._cell)
            self._cell = None
        elif tag == "h2":
            self.h2.append(self._h2)
            self._h2 = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._h2 is not None:
            self._h2 += data


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text())
    return page


def latex_problems(text: str) -> list[str]:
    """Syntax problems of a booktabs table: unbalanced braces or environments, a row whose cell count
    differs from the column spec, missing rules, unescaped special characters in a cell."""
    out = []
    depth = 0
    for ch in re.sub(r"\\[{}%&#$_]", "", text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            out.append("unbalanced }")
            break
    if depth > 0:
        out.append("unbalanced {")
    for env in set(re.findall(r"\\begin\{(\w+)\}", text)):
        if text.count(f"\\begin{{{env}}}") != text.count(f"\\end{{{env}}}"):
            out.append(f"unbalanced environment {env}")
    spec = re.search(r"\\begin\{tabular\}\{([lcr]+)\}", text)
    if not spec:
        return out + ["no tabular column spec"]
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        if rule not in text:
            out.append(f"missing {rule}")
    body = text.split("\\midrule")[0].split("\\toprule")[-1] + text.split("\\midrule")[-1].split("\\bottomrule")[0]
    for line in body.strip().splitlines():
        if not line.strip():
            continue
        cells = re.split(r"(?<!\\)&", line.rstrip().removesuffix("\\\\"))
        if len(cells) != len(spec.group(1)):
            out.append(f"{len(cells)} cells for {len(spec.group(1))} columns: {line[:60]}")
        for c in cells:
            if re.search(r"(?<!\\)[_%#$]", c):
                out.append(f"unescaped special character in {c!r}")
    return out


def compile_latex(tex_files: list[Path], tmp: Path) -> str | None:
    """Compile all tables in one document with pdflatex when installed; returns the log on failure."""
    engine = shutil.which("pdflatex")
    if engine is None:
        return None
    doc = ["\\documentclass{article}", "\\usepackage[T1]{fontenc}", "\\usepackage[utf8]{inputenc}",
           "\\usepackage{booktabs}", "\\begin{document}"]
    doc += [f"\\input{{{p.resolve()}}}" for p in tex_files] + ["\\end{document}"]
    (tmp / "tables.tex").write_text("\n".join(doc))
    res = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "tables.tex"], cwd=tmp,
                         capture_output=True, text=True, timeout=120)
    return None if res.returncode == 0 else res.stdout[-3000:]


def check_run_directory(out: Path, tmp: Path) -> Page:
    """The checks every report passes (see the module docstring); returns the parsed page."""
    page = parse(out / "report.html")
    for ref in page.srcs + [h for h in page.hrefs if not h.startswith(("#", "http"))]:
        assert (out / ref).is_file(), f"the page references {ref}, which does not exist"
    assert page.srcs and all(n > 0 for n in page.rows), f"empty table(s): {page.rows}"
    for png in (out / "figures").glob("*.png"):
        assert png.with_suffix(".pdf").is_file(), f"{png.name} has no PDF"
    coded = [c for c in page.text_cells if re.search(r"(?<![\w.])[01]\.0(?![\w.])", c)]
    assert not coded, f"category labels printed as codes: {coded[:5]}"
    tex = sorted((out / "tables").glob("*.tex"))
    assert tex and {p.stem for p in tex} == {p.stem for p in (out / "tables").glob("*.csv")
                                             if not p.stem.startswith("loadings_")}
    for p in tex:
        assert not latex_problems(p.read_text()), (p.name, latex_problems(p.read_text()))
    log = compile_latex(tex, tmp)
    assert log is None, log
    methods = (out / "methods.md").read_text()
    cited = set(re.findall(r"@([A-Za-z][\w]*)", " ".join(re.findall(r"\[[^\]]*@[^\]]*\]", methods))))
    bib = set(re.findall(r"@\w+\{(\w+),", (out / "references.bib").read_text()))
    assert cited and cited == bib
    return page


@pytest.fixture(scope="module")
def small_report(fitted_small, small_cohort, tmp_path_factory):
    """The report of the shared small fit, with a circular label (a copy of a mutation call), coded
    categories, and an extra section registered the way a submodel registers one."""
    from rgfactor.reporting import write_model_report

    data, truth = small_cohort
    rng = np.random.default_rng(0)
    subjects = list(data.subjects)
    labels = pd.DataFrame(index=subjects)
    labels["group"] = (truth["Z"][:, 0] > 0).astype(int)                      # 0/1 codes
    labels["mut_copy"] = data.views["mutations"].iloc[:, 0]                  # a model input
    labels["grade"] = rng.integers(1, 4, len(subjects)).astype(float)        # 1.0/2.0/3.0 codes
    labels["age"] = rng.normal(60, 10, len(subjects))
    out = tmp_path_factory.mktemp("report") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(SECTIONS, "test_submodel", None)   # restored (removed) after the fixture
        mp.setitem(EXTRA_TEMPLATES, "sections/test_submodel.html.j2", "")
        register_section("test_submodel", "Test submodel", order=65, source=(
            '{% import "_macros.html.j2" as m %}<p>submodel says {{ s.word }}</p>{{ m.table(s.table) }}'))(
            lambda ctx: {"word": "<hello>", "table": ctx.writer.table(pd.DataFrame({"effect": [0.5]}),
                                                                         "submodel_effects", "Submodel effects")})
        write_model_report(out, fitted_small, data, labels, title="small <fit>",
                           level_names={"group": {"0": "low", "1": "high"}})
    return out, labels


def test_small_report_reads_as_a_person_would(small_report, fitted_small, tmp_path):
    out, labels = small_report
    page = check_run_directory(out, tmp_path)
    assert page.h2[:5] == ["Data overview", "Convergence", "Variance explained",
                           "Associations with clinical/molecular labels", "Factors"]
    assert "Test submodel" in page.h2 and "Site effects" in page.h2
    html = (out / "report.html").read_text()
    assert "submodel says &lt;hello&gt;" in html and "small &lt;fit&gt;" in html   # escaped by Jinja
    assert (out / "figures" / "elbo.png").is_file()
    assert any("low" in c for c in page.text_cells) and any(c == "high - low" for c in page.text_cells)
    # feature stability: every feature of each site-effect view, sorted by site ICC, shares in [0, 1]
    stab = pd.read_csv(out / "tables" / "site_stability_radiomics.csv", index_col=0)
    assert len(stab) == fitted_small.idata_.posterior.sizes["radiomics_feature"]
    assert stab["site ICC"].is_monotonic_decreasing and stab["site ICC"].between(0, 1).all()
    assert "Feature stability" in html


def test_circular_label_is_tested_on_the_other_views_only(small_report):
    out, labels = small_report
    assoc = pd.read_csv(out / "tables" / "associations.csv")
    circ = assoc[assoc["label"] == "mut_copy"]
    assert len(circ) and set(circ["scores"]) == {"views rna, radiomics"}
    assert set(assoc.loc[assoc["label"] != "mut_copy", "scores"]) == {"all views"}
    html = (out / "report.html").read_text()
    assert "mut_copy is a model input" in html and "mutations_0" in html
    over = pd.read_csv(out / "tables" / "labels_overview.csv", index_col=0)
    assert over.loc["mut_copy", "model input"] == "yes: mutations_0 of view mutations"


def test_only_active_factors_are_shown(small_report):
    out, _ = small_report
    ve = pd.read_csv(out / "tables" / "variance_explained.csv", index_col=0)
    active = [f for f in ve.columns if f != "total" and (ve[f] > 0.01).any()]
    cards = re.findall(r'<article class="card" id="card-(\w+)">', (out / "report.html").read_text())
    assert cards == active
    tex = (out / "tables" / "variance_explained.tex").read_text()
    assert all(f in tex for f in active) and not any(f in tex for f in ve.columns if f not in active + ["total"])


@pytest.mark.slow
@pytest.mark.skipif(not DATA_ROOT.exists(), reason="../shared/data not present")
def test_lgg_quick_report(tmp_path):
    """The main job (reduced settings): IDH1, which the loader copies from the mutation view, is tested
    against imaging-only factor scores; the report passes every reader check."""
    from rgfactor.cli import main

    out = tmp_path / "lgg"
    assert main(["fit", str(ROOT / "models" / "lgg_radiogenomics.toml"), "--quick", "--out", str(out),
                 "--no-progress"]) == 0
    check_run_directory(out, tmp_path)
    assoc = pd.read_csv(out / "tables" / "associations.csv")
    assert set(assoc.loc[assoc["label"] == "IDH1", "scores"]) == {"view radiomics"}
    assert set(assoc.loc[assoc["label"] == "IDH1", "contrast"]) == {"mutant - wild-type"}
    assert set(assoc.loc[assoc["label"] == "death", "contrast"]) == {"dead - alive"}
