"""The PCA start of the closed-form engine: the implicit standardised matrix and its randomized SVD."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from sklearn.decomposition import PCA

from rgfactor.inference.pca_start import StartMatrix, pca_factors, pca_matrix, randomized_svd, uses_randomized_svd

from conftest import cavi_cohort


def _cohort(missing=0.0, n_sites=0):
    arrays, z, _ = cavi_cohort(n=150, n_factors=3, dims=(60, 40, 25), likelihoods=("gaussian", "negative_binomial",
                               "gaussian"), missing=missing, n_sites=n_sites, seed=3)
    return arrays, z


@pytest.mark.parametrize("missing,n_sites", [(0.0, 0), (0.0, 3), (0.1, 0)])
def test_start_matrix_products_equal_the_explicit_matrix(missing, n_sites):
    """X B and X^T A of the operator (complete real views implicit; the count view and views with missing
    entries standardised; the site design regressed out) equal those of the matrix pca_matrix builds."""
    arrays, _ = _cohort(missing, n_sites)
    design = None if n_sites == 0 else np.eye(n_sites)[np.asarray(arrays.site)]
    x = pca_matrix(arrays, slice(None), np.float64, design)[0]
    op = StartMatrix(arrays, np.float64, design)
    assert op.shape == x.shape
    assert sum(s is not None for _, _, s in op.blocks) == (2 if missing == 0 else 0)   # implicit where it can be
    rng = np.random.default_rng(0)
    b, a = rng.standard_normal((x.shape[1], 4)), rng.standard_normal((x.shape[0], 4))
    np.testing.assert_allclose(op.matmat(b), x @ b, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(op.rmatmat(a), x.T @ a, rtol=1e-10, atol=1e-10)


def test_start_matrix_constant_column_is_zero():
    arrays, _ = _cohort()
    v = arrays.views[0]
    y = np.array(v.y, copy=True)
    y[:, 5] = 2.0
    arrays = dataclasses.replace(arrays, views=(dataclasses.replace(v, y=y),) + arrays.views[1:])
    x = pca_matrix(arrays, slice(None), np.float64, None)[0]
    op = StartMatrix(arrays, np.float64, None)
    e = np.zeros((x.shape[1], 1))
    e[5] = 1.0
    np.testing.assert_allclose(op.matmat(e), 0.0, atol=1e-12)
    np.testing.assert_allclose(op.rmatmat(np.ones((x.shape[0], 1)))[5], 0.0, atol=1e-12)


def test_randomized_svd_agrees_with_sklearn_pca():
    """The leading singular values and subspace of the operator's randomized SVD equal scikit-learn's PCA of
    the explicit matrix (which it replaces where scikit-learn would itself use its randomized solver)."""
    arrays, _, _ = cavi_cohort(n=300, n_factors=4, dims=(400, 200, 50), likelihoods=("gaussian", "gaussian", "gaussian"),
                               seed=1)
    x = pca_matrix(arrays, slice(None), np.float64, None)[0]
    assert uses_randomized_svd(x.shape, 4)
    u, s, vt = randomized_svd(StartMatrix(arrays, np.float64, None), 4, 0, n_iter=7)
    pca = PCA(n_components=4, svd_solver="full").fit(x)
    np.testing.assert_allclose(s, pca.singular_values_, rtol=1e-6)
    # same subspace: the principal angles' cosines are 1
    np.testing.assert_allclose(np.linalg.svd(vt @ pca.components_.T, compute_uv=False), 1.0, atol=1e-6)
    np.testing.assert_allclose(u.T @ u, np.eye(4), atol=1e-10)
    assert np.all(np.abs(vt).max(axis=1) == vt[np.arange(4), np.argmax(np.abs(vt), axis=1)])   # sign rule


def test_pca_start_recovers_the_factors_and_is_seeded():
    arrays, z, _ = cavi_cohort(n=300, n_factors=4, dims=(400, 200, 50), likelihoods=("gaussian", "negative_binomial",
                               "bernoulli"), seed=2)
    start = pca_factors(arrays, 6, random_state=5)
    assert start.shape == (300, 6)
    np.testing.assert_array_equal(start, pca_factors(arrays, 6, random_state=5))
    # every true factor lies in the span of the start (canonical correlations)
    q1, q2 = np.linalg.qr(z - z.mean(0))[0], np.linalg.qr(start - start.mean(0))[0]
    assert np.linalg.svd(q1.T @ q2, compute_uv=False).min() > 0.9


PROBE = """
import sys
import rgfactor as rgf
from rgfactor.inference.pca_start import pca_factors, uses_randomized_svd
out = []
for d in (600, 20):   # 630 features: the randomized path; 50: the explicit one
    data, _ = rgf.simulate.multiview(n_subjects=60, n_factors=2, views={"a": ("gaussian", d), "b": ("gaussian", 30)},
                                     random_state=0)
    arrays = data.to_arrays()
    out.append("sklearn.decomposition" in sys.modules)
    pca_factors(arrays, 3, 0)
    out += [uses_randomized_svd((60, d + 30), 3), "sklearn.decomposition" in sys.modules]
print(*out)
"""


@pytest.mark.timeout(240)
def test_scikit_learns_pca_is_imported_only_where_it_is_used():
    """scikit-learn's decomposition package (0.22 s to import in a fresh process, with the linear models,
    model selection and metrics it imports) is imported by the explicit path only, not by the randomized SVD
    that starts S1-sized fits. A fresh process: the import state is global."""
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=200)
    assert res.returncode == 0, res.stderr
    # randomized path: not imported before, not after; explicit path: imported by it
    assert res.stdout.split() == ["False", "True", "False", "False", "False", "True"]
