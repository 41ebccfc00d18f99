"""docs/extending.md's worked example (a Student-t likelihood), run as written."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import rgfactor as rgf

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


@pytest.fixture(scope="module")
def student_t():
    """Execute the first code block of docs/extending.md (it registers 'student_t')."""
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[0]
    namespace = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    yield namespace["StudentT"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_student_t_view_end_to_end(student_t):
    """N=150, K=2 (both factors in both views): a 40-feature view with t(nu=2.5) noise and a Bernoulli
    view. The new likelihood is fitted by SVI (it has no closed-form update), its variables carry their
    declared dims, the pointwise log-likelihood is scipy's t log density, nu is found heavy-tailed, and
    the factor subspace is recovered at least as well as with the view declared Gaussian (cosines of
    the principal angles to the truth, smallest: measured 0.983 vs 0.961; outliers pull a Gaussian
    fit). Subspaces, not single factors: with both factors in both views ARD leaves a rotation free."""
    from scipy.linalg import subspace_angles

    views = {"x": ("student_t", 40), "m": ("bernoulli", 20)}
    data, truth = rgf.simulate.multiview(n_subjects=150, n_factors=2, views=views, n_sites=0, fraction_nonzero=0.6,
                                         missing_views=0.0, activity=np.ones((2, 2), dtype=int),
                                         values={"df_x": 2.5, "sigma_x": np.full(40, 0.6)},
                                         random_state=2)
    frames = {k: v for k, v in data.views.items()}
    gauss = rgf.MultiViewData.from_pandas(frames, {"x": "gaussian", "m": "bernoulli"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_t = rgf.GFA(2, max_iter=5000, tol=1e-7, num_draws=100, random_state=0).fit(data)
        fit_g = rgf.GFA(2, sparsity="ard", method="svi", max_iter=5000, tol=1e-7, num_draws=100,
                        random_state=0).fit(gauss)
    assert fit_t.diagnostics_["method"] == "svi"
    post = fit_t.idata_.posterior
    assert post["df_x"].dims == ("chain", "draw") and post["sigma_x"].dims == ("chain", "draw", "x_feature")
    assert 1.5 < float(post["df_x"].mean()) < 6.0          # heavy tails found (truth 2.5)
    # log-likelihood of subject 0 in draw 0: scipy's t density at the draw's parameters
    d0 = post.isel(chain=0, draw=0)
    y = fit_t.idata_.observed_data["x"].values[0]
    mu = d0["intercept_x"].values + d0["W_x"].values @ d0["Z"].values[0]
    ref = np.nansum(stats.t(float(d0["df_x"]), mu, d0["sigma_x"].values).logpdf(y))
    np.testing.assert_allclose(fit_t.log_likelihood()["x"].values[0, 0, 0], ref, rtol=1e-4)
    z0 = truth["Z"] - truth["Z"].mean(0)
    cos_t, cos_g = (np.cos(subspace_angles(z0, m.factors_.values - m.factors_.values.mean(0))).min()
                    for m in (fit_t, fit_g))
    assert cos_t >= 0.95 and cos_t >= cos_g, (cos_t, cos_g)
    assert np.isfinite(fit_t.variance_explained().values).all()
