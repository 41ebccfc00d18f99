"""Front door from a fitted model to its report: gathers what the report layer shows.

The report layer (:mod:`rgfactor.report`) sees only pandas/xarray objects. This module reads them off a
fitted estimator and its data: variance explained, loadings with intervals and local false sign rates
(:func:`rgfactor.posterior.summary.loading_summary`), the data overview, the Methods description of the
model's components (:func:`rgfactor.posterior.methods.describe_model`), site effects, spatially smooth
factors (maps, smoothness table), and, for labels that copy a model input (the circular-label rule,
:mod:`rgfactor.report.associations`), factor scores inferred from the other views with ``model.transform``.

    from rgfactor.reporting import write_model_report
    write_model_report("runs/lgg", model, data, labels, title="TCGA-LGG")
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from rgfactor.dims import SITE, feature_dim
from rgfactor.inference.engines import ENGINE_DEFAULTS
from rgfactor.posterior.io import versions
from rgfactor.posterior.methods import describe_model
from rgfactor.posterior.summary import loading_summary
from rgfactor.report import ReportInputs, find_circular_labels, render_report


def without_view(data, view: str):
    """The cohort without ``view``, restricted to subjects observed in at least one other view
    (None when no view or no subject remains)."""
    rest = {k: v for k, v in data.views.items() if k != view}
    if not rest:
        return None
    seen = pd.concat([df.notna().any(axis=1) for df in rest.values()], axis=1).any(axis=1)
    if not seen.any():
        return None
    return data.select_views(rest).subset(list(seen[seen].index))


def other_view_scores(model, data, circular: dict) -> dict:
    """{label: (description, factor scores from the views other than the label's)} for circular labels.

    ``model.transform`` (the factors' posterior given the fitted globals) is run once per view that holds a
    circular label's feature, on the data without that view."""
    cache, out = {}, {}
    for label, (view, _feature) in circular.items():
        if view not in cache:
            sub = without_view(data, view)
            if sub is None:
                cache[view] = None
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    others = ", ".join(sub.views)
                    cache[view] = (f"view{'s' if len(sub.views) > 1 else ''} {others}", model.transform(sub))
        if cache[view] is not None:
            out[label] = cache[view]
    return out


def fit_settings(model) -> dict:
    """The settings and outcome of the engine run (defaults resolved), for the Methods text."""
    d = model.diagnostics_
    method = d.get("method")
    params = model.get_params()
    fit = {k: d.get(k) for k in ("method", "sparsity", "n_steps", "converged", "max_r_hat", "min_ess_bulk",
                                 "n_divergent")}
    for key in ("max_iter", "tol"):
        fit[key] = params.get(key) if params.get(key) is not None else ENGINE_DEFAULTS.get(method, {}).get(key)
    fit.update(num_draws=params.get("num_draws"), num_chains=params.get("num_chains"),
               num_warmup=params.get("num_warmup"), learning_rate=params.get("learning_rate"),
               seed=params.get("random_state"))
    return fit


def site_effect_means(model) -> dict:
    """{view: DataFrame (site, feature)} of posterior-mean site intercepts (empty without site effects)."""
    post = model.idata_.posterior
    out = {}
    for view in model.config_.view_names:
        name = f"site_effect_{view}"
        if name in post:
            out[view] = post[name].mean(("chain", "draw")).transpose(SITE, feature_dim(view)).to_pandas()
    return out


def site_stability(model, n_top: int = 15) -> dict:
    """{view: DataFrame} of the ``n_top`` least site-stable features of each view with site effects:
    posterior mean and 94% HDI of the site share of variance (site ICC) and the factor and residual
    shares (:meth:`variance_components`). Empty without site effects."""
    if model.config_.site_effects == "none":
        return {}
    vc = model.variance_components()
    out = {}
    for view in model.config_.view_names:
        if f"site_icc_{view}" not in vc:
            continue
        icc = vc[f"site_icc_{view}"].to_pandas()
        share = vc[f"share_{view}"].sel(statistic="mean").to_pandas()
        tab = pd.DataFrame({"site ICC": icc["mean"], "ICC hdi_3%": icc["hdi_3%"], "ICC hdi_97%": icc["hdi_97%"],
                            "factors share": share["factors"], "residual share": share["residual"]})
        tab.index.name = "feature"
        if tab["site ICC"].max() > 0:
            out[view] = tab.sort_values("site ICC", ascending=False)
    return out


def region_factor_inputs(model) -> dict:
    """The region_factors report section's inputs (empty without region-level views):
    :meth:`region_shares`, the region-level views, the coordinate names and the engine."""
    views = getattr(model.config_, "region_views", ())
    if not views:
        return {}
    return {"shares": model.region_shares(), "views": views, "coordinates": model.config_.coordinate_names,
            "method": model.diagnostics_.get("method")}


def smooth_factor_inputs(model, n_grid: int = 200) -> dict:
    """The gp_factors report section's inputs (empty without a GP factor prior): the subjects'
    coordinates, :meth:`factor_smoothness`, the engine, and for a 1-D coordinate the smooth part
    interpolated on ``n_grid`` points over the observed range (:meth:`factors_at`)."""
    if getattr(model.config_, "factor_prior", "normal") != "gp" or getattr(model.config_, "region_views", ()):
        return {}
    coords = model.idata_.constant_data["coordinates"].transpose("subject", "coordinate").to_pandas()
    coords.columns = [str(c) for c in coords.columns]
    out = {"coordinates": coords, "smoothness": model.factor_smoothness(), "method": model.diagnostics_.get("method")}
    if coords.shape[1] == 1:
        x = np.linspace(coords.iloc[:, 0].min(), coords.iloc[:, 0].max(), n_grid)
        grid = pd.DataFrame({coords.columns[0]: x}, index=[f"grid{i}" for i in range(n_grid)])
        smooth = model.factors_at(grid).to_pandas()
        out["smooth"] = smooth.set_axis(pd.Index(x, name=coords.columns[0])).set_axis(
            [str(c) for c in smooth.columns], axis=1)
    return out


def report_inputs(model, data, labels: pd.DataFrame | None = None, *, title: str, description: str | None = None,
                  spec_text: str = "", diagnostics: dict | None = None, level_names: dict | None = None,
                  extra_tables: dict | None = None) -> ReportInputs:
    """The :class:`~rgfactor.report.ReportInputs` of a fitted estimator and the data it was fitted to.

    Parameters
    ----------
    model : fitted GFA, PCCA or PPLS.
    data : the MultiViewData it was fitted to (data overview, circular-label rule, transform).
    labels : optional DataFrame (subject, label).
    title, description, spec_text : page title, lead paragraph, specification text.
    diagnostics : default ``model.diagnostics_`` (plus the resolved stopping tolerance).
    level_names : {label: {code: name}} readable categories (the spec's ``[report.levels]``).
    extra_tables : name -> DataFrame shown in "Additional tables".
    """
    diag = dict(model.diagnostics_ if diagnostics is None else diagnostics)
    fit = fit_settings(model)
    diag.setdefault("tol", fit["tol"])
    if isinstance(diag.get("summary"), dict):
        diag["summary"] = pd.DataFrame(diag["summary"])
    circular = find_circular_labels(labels, data.views) if labels is not None else {}
    methods = {"model": describe_model(model.model_, fit["method"]), "structure": model.structure, "fit": fit,
               "versions": {**versions(), **_more_versions()}}
    return ReportInputs(
        title=title, description=description, variance_explained=model.variance_explained(),
        variance_explained_total=model.variance_explained(total=True).to_pandas(), factors=model.factors_,
        diagnostics=diag, labels=labels, spec_text=spec_text, extra_tables=dict(extra_tables or {}),
        loadings={v: loading_summary(model.idata_, v) for v in model.config_.view_names},
        views=data.views, likelihoods=data.likelihoods, transforms=data.transforms, site=data.site,
        covariates=None if data.covariates is None else list(data.covariates.columns),
        label_scores=other_view_scores(model, data, circular), level_names=dict(level_names or {}),
        methods=methods, submodels={"site_effects": site_effect_means(model), "site_stability": site_stability(model),
                   "gp_factors": smooth_factor_inputs(model), "region_factors": region_factor_inputs(model)})


def _more_versions() -> dict:
    import scipy

    return {"scipy": scipy.__version__}


def write_model_report(out_dir, model, data, labels: pd.DataFrame | None = None, *, title: str = "rgfactor fit",
                       **kwargs) -> Path:
    """Write the report of a fitted estimator into ``out_dir`` (see :func:`report_inputs` for ``kwargs``).

    Returns
    -------
    Path of ``out_dir/report.html``; ``methods.md``, ``references.bib``, ``figures/`` and ``tables/`` beside it.
    """
    return render_report(out_dir, report_inputs(model, data, labels, title=title, **kwargs))
