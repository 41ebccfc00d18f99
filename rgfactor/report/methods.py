"""The report's Methods text (``methods.md``) and its bibliography (``references.bib``).

The model sentences come from the fitted model's components (:mod:`rgfactor.posterior.methods`, passed
in ``ReportInputs.methods["model"]``); the data, engine, convergence and software facts from the run.
Citations are written ``[@key]`` (pandoc) and ``references.bib`` holds exactly the keys the text cites.
"""

from __future__ import annotations

import re
from pathlib import Path

from rgfactor.report.references import bibtex
from rgfactor.report.render import environment

STRUCTURES = {
    "GFA": "a Bayesian group factor analysis (GFA) [@klami2015gfa], the model of MOFA [@argelaguet2018mofa]",
    "PCCA": "a Bayesian probabilistic canonical correlation analysis with shared and view-specific factors "
            "[@klami2013bcca]",
    "PPLS": "a Bayesian probabilistic partial least squares model [@elbouhaddani2018ppls]",
}
TRANSFORMS = {"yeo-johnson": "Yeo-Johnson transformed and standardised [@yeo2000transform]",
              "standardize": "standardised"}
CITATION = re.compile(r"@([A-Za-z][A-Za-z0-9_]*)")


def _converged(fit: dict) -> str:
    if fit.get("converged") is None:
        return ""
    return ("the criterion was met" if fit["converged"] else
            "the criterion was **not** met, so the fit is preliminary")


def engine_text(fit: dict) -> str:
    """The inference paragraph for the engine in ``fit['method']`` with the run's settings."""
    method = fit.get("method")
    if method == "cavi":
        return (f"The posterior was approximated by mean-field variational Bayes with closed-form coordinate-ascent "
                f"updates (CAVI), as in MOFA+ [@argelaguet2020mofaplus], iterated until the relative change of the "
                f"evidence lower bound (ELBO) fell below {fit.get('tol')} (at most {fit.get('max_iter')} sweeps; "
                f"{fit.get('n_steps')} sweeps were run and {_converged(fit)}). All summaries use "
                f"{fit.get('num_draws')} independent draws from the fitted approximation q; such draws carry no "
                "MCMC diagnostics, and mean-field intervals are typically narrower than those of the exact posterior.")
    if method == "svi":
        return (f"The posterior was approximated by stochastic variational inference [@hoffman2013svi] in NumPyro "
                f"[@phan2019numpyro] with a mean-field Gaussian approximation, optimised by Adam (learning rate "
                f"{fit.get('learning_rate')}) until the relative change of the ELBO between chunks of steps fell "
                f"below {fit.get('tol')} (at most {fit.get('max_iter')} steps; {fit.get('n_steps')} were run and "
                f"{_converged(fit)}). All summaries use {fit.get('num_draws')} independent draws from the fitted "
                "approximation q; mean-field intervals are typically narrower than those of the exact posterior.")
    if method == "nuts":
        return (f"Posterior draws were obtained with the No-U-Turn sampler [@hoffman2014nuts] in NumPyro "
                f"[@phan2019numpyro]: {fit.get('num_chains')} chains of {fit.get('num_warmup')} warm-up and "
                f"{fit.get('num_draws')} retained iterations. Convergence was assessed after alignment by "
                f"rank-normalised split R-hat and bulk effective sample size [@vehtari2021rhat] (largest R-hat "
                f"{_fmt(fit.get('max_r_hat'), '.3f')}, smallest bulk ESS {_fmt(fit.get('min_ess_bulk'), '.0f')}, "
                f"{fit.get('n_divergent', 0)} divergent transitions).")
    return f"Inference engine: {method}."


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(float(value), spec)


def methods_text(ctx) -> str | None:
    """The Methods Markdown of a report context (None without ``inputs.methods``)."""
    inp = ctx.inputs
    m = inp.methods
    if not m:
        return None
    views = []
    for v in m["model"]["views"]:
        raw = (inp.views or {}).get(v["name"])
        transform = (inp.transforms or {}).get(v["name"], "")
        views.append({"name": v["name"], "n_features": v["n_features"],
                      "n_observed": int(raw.notna().any(axis=1).sum()) if raw is not None else "all",
                      "transform": transform, "transform_text": TRANSFORMS.get(transform, transform)})
    data = {"n_subjects": int(inp.factors.sizes.get("subject", 0)), "views": views,
            "n_sites": 0 if inp.site is None else int(inp.site.nunique())}
    assoc = None
    if ctx.associations is not None:
        assoc = {"n_tests": len(ctx.associations),
                 "circular": [{"label": lab, "view": v, "feature": f, "scores": inp.label_scores[lab][0]}
                              for lab, (v, f) in ctx.circular.items() if lab in inp.label_scores],
                 "dropped": ctx.dropped_labels}
    structure = m.get("structure", "GFA")
    return environment().get_template("methods.md.j2").render(
        data=data, model=m["model"], fit=m.get("fit", {}), versions=m.get("versions", {}),
        structure_text=STRUCTURES.get(structure, f"a {structure} model"), engine_text=engine_text(m.get("fit", {})),
        active_threshold=inp.active_threshold, n_active=len(ctx.active_factors), associations=assoc)


def write_methods(ctx, out: str | Path) -> str | None:
    """Write ``methods.md`` and ``references.bib`` (the keys the text cites) into ``out``; returns the text."""
    text = methods_text(ctx)
    if text is None:
        return None
    out = Path(out)
    (out / "methods.md").write_text(text, encoding="utf-8")
    keys = CITATION.findall(" ".join(re.findall(r"\[[^\]]*@[^\]]*\]", text)))
    (out / "references.bib").write_text(bibtex(keys), encoding="utf-8")
    return text
