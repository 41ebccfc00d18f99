"""The model of a fit in words, for a manuscript's Methods: read from the model's components.

:func:`describe_model` walks the :class:`~rgfactor.generative.model.Model` (factor prior; per view the
loadings prior, the linear-predictor terms and the likelihood) and asks each component for a sentence
with :func:`describe_component`. The numbers in the sentences (hyperparameters) are read from the
components' own prior methods (``alpha_prior()``, ``precision_prior(...)``, ...), so they follow the
model; the wording lives here, one function per component class. A new component registers its
sentence with ``@describe_component.register`` (functools.singledispatch); an unregistered one is
described by the first line of its docstring, flagged for editing.

Returns plain dicts of Markdown text (inline maths as ``$...$``) and BibTeX keys
(:mod:`rgfactor.report.references`); the report renders them.
"""

from __future__ import annotations

from functools import singledispatch

import numpy as np

from rgfactor.generative.conv_basis import ConvolutionBasis
from rgfactor.generative.factors import IidNormalFactors
from rgfactor.generative.gp_factors import SCALE_GAP, GPFactors
from rgfactor.generative.likelihoods.counts import POISSON_DISPERSION, Bernoulli, NegativeBinomial, Poisson
from rgfactor.generative.likelihoods.gaussian import Gaussian
from rgfactor.generative.loadings import ARDLoadings, HorseshoeLoadings
from rgfactor.generative.model import Model
from rgfactor.generative.ppls import PPLSFactors, PPLSResponse
from rgfactor.generative.region_factors import RegionFactors
from rgfactor.generative.spike_slab import SpikeSlabLoadings
from rgfactor.generative.terms import Covariates, Intercept, SiteLocation

# a unit feature scale: the priors that scale with the feature's s_d are read at s_d = 1
_UNIT = {"centre": np.zeros(1), "scale": np.ones(1)}


def _num(x) -> str:
    """A hyperparameter as short text: 1, 0.5, 2.5, 1e-03."""
    v = float(np.asarray(x).ravel()[0])
    return f"{v:g}"


@singledispatch
def describe_component(component, view: str | None, engine: str) -> tuple[str, tuple[str, ...]]:
    """(Markdown sentence, BibTeX keys) of one model component of ``view`` under ``engine``.

    The fallback for components without a registered description: the first docstring line."""
    doc = (type(component).__doc__ or type(component).__name__).strip().splitlines()[0]
    return f"{doc} *(no Methods text is registered for {type(component).__name__}; edit this sentence)*", ()


@describe_component.register
def _(c: IidNormalFactors, view, engine):
    p = c.prior()
    return (f"The latent factors are a priori independent, $z_{{nk}} \\sim \\mathcal{{N}}({_num(p.loc)}, "
            f"{_num(p.scale)}^2)$.", ("klami2015gfa",))


@describe_component.register
def _(c: GPFactors, view, engine):
    a, b = c.lengthscale_prior
    if isinstance(c.basis, ConvolutionBasis):
        approx, refs = (f"approximated by a discrete process convolution (Gaussian kernels of sd {c.basis.width:.3g} on a "
                        f"lattice of {c.basis.size} points with correlated weights) [@higdon2002convolution]",
                        ("velten2022mefisto", "higdon2002convolution"))
    else:
        m = " x ".join(str(v) for v in c.basis.n_basis)
        approx, refs = (f"approximated by a Hilbert-space basis of {c.basis.size} functions ({m})",
                        ("velten2022mefisto", "solin2020hilbert", "riutortmayol2023hsgp"))
    text = (f"The latent factors vary smoothly over the subjects' coordinates (MEFISTO's prior): $z_k(s) = "
            f"\\sqrt{{\\rho_k}} f_k(s) + \\sqrt{{1 - \\rho_k}} e_k(s)$, $e_k(s) \\sim \\mathcal{{N}}(0, 1)$, with "
            f"$f_k$ a unit-variance Gaussian process with squared-exponential kernel and lengthscale $\\ell_k$, "
            f"{approx}; "
            f"$\\ell_k \\sim \\mathrm{{InvGamma}}({a:.3g}, {b:.3g})$ (coordinate units) and the spatial share of "
            f"variance (scale) $\\rho_k \\sim \\mathrm{{Uniform}}(0, {1 - SCALE_GAP:g})$")
    if engine == "cavi":
        text += ("; in the closed-form engine $\\rho_k$ and $\\ell_k$ are point estimates maximising the "
                 "evidence lower bound over a grid")
    return text + ".", refs


@describe_component.register
def _(c: RegionFactors, view, engine):
    a, b = c.lengthscale_prior
    views = ", ".join(f"*{v}*" for v in c.region_views)
    text = (f"Rows of the region-level view(s) {views} are (subject, region) pairs. Subject-level views load on "
            f"subject-level factors $z_{{sk}} \\sim \\mathcal{{N}}(0, 1)$; region-level views load on region-level "
            f"factors $z_{{srk}} = \\sqrt{{\\rho_{{bk}}}} z_{{sk}} + t_k(x_{{sr}}) + \\sqrt{{\\rho_{{wk}}}} f_{{sk}}(x_{{sr}}) + "
            f"\\sqrt{{\\rho_{{ek}}}} e_{{srk}}$ over the region coordinate $x$, MEFISTO's Gaussian-process factor "
            f"made hierarchical: $f_{{sk}}$ (one curve per subject) and the population trend $t_k = \\tau_k g_k$ are "
            f"unit-variance Gaussian processes with squared-exponential kernel and a shared lengthscale $\\ell_k \\sim "
            f"\\mathrm{{InvGamma}}({a:.3g}, {b:.3g})$, approximated by a Hilbert-space basis of {c.basis.size} "
            f"functions centred within each subject, $e_{{srk}} \\sim \\mathcal{{N}}(0, 1)$, "
            f"$(\\rho_{{bk}}, \\rho_{{wk}}, \\rho_{{ek}}) \\sim \\mathrm{{Dirichlet}}(1, 1, 1)$ and "
            f"$\\tau_k \\sim \\text{{Half-Normal}}(1)$. We report the finite-population shares of the four parts "
            f"of $z_{{srk}}$ over the observed (subject, region) pairs [@gelman2005anova]")
    return text + ".", ("velten2022mefisto", "solin2020hilbert", "riutortmayol2023hsgp", "gelman2005anova")


@describe_component.register
def _(c: PPLSFactors, view, engine):
    if engine == "cavi":   # the conjugate form: a Gamma prior on the residual precision (declared difference)
        p = c.tau_h_prior()
        resid = f"$\\sigma_h^{{-2}} \\sim \\mathrm{{Gamma}}({_num(p.concentration)}, {_num(p.rate)})$"
    else:
        resid = f"$\\sigma_h \\sim \\text{{Half-Normal}}({_num(c.sigma_h_prior().scale)})$"
    return (f"The {c.n_components} predictor scores $t_n \\sim \\mathcal{{N}}(0, I)$ and the response scores "
            f"$u_n = t_n B + h_n$ follow the probabilistic PLS inner relation with $B$ diagonal, "
            f"$B_{{jj}} \\sim \\mathcal{{N}}({_num(c.b_prior().loc)}, {_num(c.b_prior().scale)}^2)$ and "
            f"$h_n \\sim \\mathcal{{N}}(0, \\sigma_h^2 I)$, {resid}.", ("elbouhaddani2018ppls",))


@describe_component.register
def _(c: ARDLoadings, view, engine):
    p = c.alpha_prior()
    text = (f"Loadings of view *{view}* have an automatic relevance determination prior, "
            f"$w_{{dk}} \\sim \\mathcal{{N}}(0, \\alpha_k^{{-1}})$ with $\\alpha_k \\sim "
            f"\\mathrm{{Gamma}}({_num(p.concentration)}, {_num(p.rate)})$ (shape, rate), which switches "
            "factors off per view.")
    if c.activity is not None:
        text += f" Factors {_active(c.activity)} may load on this view; the others are fixed at 0."
    return text, ("bishop1999bpca", "klami2015gfa")


@describe_component.register
def _(c: HorseshoeLoadings, view, engine):
    base, cites = describe_component.dispatch(ARDLoadings)(c, view, engine)
    return (base + f" Each loading has in addition a regularised-horseshoe local scale (slab scale {_num(c.slab_scale)}, "
            f"slab degrees of freedom {_num(c.slab_df)}).", cites + ("piironen2017horseshoe",))


@describe_component.register
def _(c: SpikeSlabLoadings, view, engine):
    base, cites = describe_component.dispatch(ARDLoadings)(c, view, engine)
    t = c.theta_prior()
    return (base + f" On top, each loading is spike-and-slab, $w_{{dk}} = s_{{dk}} v_{{dk}}$ with "
            f"$s_{{dk}} \\sim \\mathrm{{Bernoulli}}(\\theta_k)$, $\\theta_k \\sim \\mathrm{{Beta}}("
            f"{_num(t.concentration1)}, {_num(t.concentration0)})$.",
            cites + ("argelaguet2020mofaplus", "titsias2011spike"))


@describe_component.register
def _(c: PPLSResponse, view, engine):
    base, cites = describe_component(c.base, view, engine)
    return (f"View *{view}* is a PPLS response: it loads on the response scores through $C$, whose prior is "
            f"as follows. {base}", cites + ("elbouhaddani2018ppls",))


@describe_component.register
def _(c: Intercept, view, engine):
    p = c.prior(_UNIT)
    return (f"Each feature has an intercept $b_d \\sim \\mathcal{{N}}(c_d, ({_num(p.scale)}\\,s_d)^2)$ around its "
            "empirical centre $c_d$ ($s_d$: the feature's empirical scale on the link scale).", ())


@describe_component.register
def _(c: SiteLocation, view, engine):
    if engine == "cavi":
        p = c.precision_prior(_UNIT)
        prior = (f"$u_{{sd}} \\sim \\mathcal{{N}}(0, \\gamma_d^{{-1}})$, $\\gamma_d \\sim \\mathrm{{Gamma}}("
                 f"{_num(p.concentration)}, {_num(p.rate)}\\,s_d^2)$")
    else:
        prior = (f"$u_{{sd}} = \\tau_d r_{{sd}}$, $r_{{sd}} \\sim \\mathcal{{N}}(0, 1)$, $\\tau_d \\sim "
                 f"\\text{{Half-Normal}}({_num(c.sd_prior(_UNIT).scale)}\\,s_d)$ (non-centred)")
    return (f"Site random intercepts per site and feature ({c.n_sites} sites) absorb site differences in "
            f"location: {prior}.", ())


@describe_component.register
def _(c: Covariates, view, engine):
    return (f"{c.n_covariates} standardised covariate(s) enter with effects $\\beta_{{cd}} \\sim \\mathcal{{N}}"
            f"(0, ({_num(c.prior(_UNIT).scale)}\\,s_d)^2)$.", ())


@describe_component.register
def _(c: Gaussian, view, engine):
    p = c.precision_prior(1.0)
    return (f"View *{view}* is Gaussian, $y_{{nd}} \\sim \\mathcal{{N}}(\\eta_{{nd}}, \\sigma_d^2)$, with noise "
            f"precision $\\sigma_d^{{-2}} \\sim \\mathrm{{Gamma}}({_num(p.concentration)}, {_num(p.rate)}\\,s_d^2)$.",
            ())


@describe_component.register
def _(c: Bernoulli, view, engine):
    text = f"View *{view}* is binary, $y_{{nd}} \\sim \\mathrm{{Bernoulli}}(\\mathrm{{logit}}^{{-1}}(\\eta_{{nd}}))$"
    if engine == "cavi":
        return text + ", fitted in closed form through Pólya-Gamma augmentation.", ("polson2013polya",)
    return text + ".", ()


@describe_component.register
def _(c: NegativeBinomial, view, engine):
    p = c.dispersion_prior()
    text = (f"View *{view}* holds counts, negative binomial with mean $\\mu_{{nd}} = s_n e^{{\\eta_{{nd}}}}$ "
            f"($s_n$ the median-of-ratios size factor) and variance $\\mu + \\mu^2/\\phi_d$, "
            f"$\\phi_d \\sim \\mathrm{{LogNormal}}(\\log {float(np.exp(p.loc)):g}, {_num(p.scale)}^2)$")
    if engine == "cavi":
        return (text + "; the dispersion is a MAP estimate and the likelihood is fitted in closed form through "
                "Pólya-Gamma augmentation.", ("polson2013polya", "anders2010deseq"))
    return text + ".", ("anders2010deseq",)


@describe_component.register
def _(c: Poisson, view, engine):
    text = f"View *{view}* holds counts, $y_{{nd}} \\sim \\mathrm{{Poisson}}(s_n e^{{\\eta_{{nd}}}})$"
    if engine == "cavi":
        return (text + f"; the closed-form engine fits it as a negative binomial with fixed dispersion "
                f"{POISSON_DISPERSION:g} (the Poisson limit).", ("polson2013polya",))
    return text + ".", ()


def _active(activity) -> str:
    return ", ".join(str(k + 1) for k, a in enumerate(activity) if a)


def describe_model(model: Model, engine: str) -> dict:
    """The model of a fit in words.

    Parameters
    ----------
    model : the fitted model's description (``estimator.model_``).
    engine : the engine that ran ('cavi', 'svi', 'nuts'); some priors differ by engine (declared in the
        components, e.g. the site-effect scale).

    Returns
    -------
    dict with ``factors`` (sentence), ``views`` (list of dicts: name, likelihood, link, n_features,
    sentences), ``common`` (sentences true of every view, said once), ``n_factors`` and ``cites`` (sorted BibTeX keys of every sentence). Sentences end with
    their citations in pandoc syntax, ``[@key1; @key2].``
    """
    cites: set[str] = set()

    def say(component, view=None):
        text, keys = describe_component(component, view, engine)
        cites.update(keys)
        if keys:   # pandoc citation before the final full stop
            text = text[:-1] if text.endswith(".") else text
            text += " [" + "; ".join(f"@{k}" for k in keys) + "]."
        return text

    views = []
    for v in model.views:
        sentences = [say(v.loadings, v.name)] + [say(t, v.name) for t in v.terms] + [say(v.likelihood, v.name)]
        views.append({"name": v.name, "likelihood": v.likelihood.name, "link": v.likelihood.link,
                      "n_features": v.n_features, "sentences": sentences})
    # sentences every view shares word for word (intercepts, site effects) are said once
    common = [t for t in views[0]["sentences"] if len(views) > 1 and all(t in v["sentences"] for v in views)]
    for v in views:
        v["sentences"] = [t for t in v["sentences"] if t not in common]
    return {"factors": say(model.factors), "views": views, "common": common, "n_factors": model.n_factors,
            "cites": sorted(cites)}
