"""The closed-form engine's start of the factors: a PCA of the concatenated, column-standardised views.

Each view is weighted by 1/sqrt(n_features) so that every view carries the same total variance, the term
designs (site one-hot, covariates) are regressed out, and the principal axes are rotated by varimax towards
the sparse loadings the slab / ARD priors favour.

Where scikit-learn's PCA would take its randomized solver (:func:`uses_randomized_svd`), the standardised
matrix is not built: complete real-valued views enter as their values with the centring and scaling applied
to the small matrices they are multiplied by (:class:`StartMatrix`), and the randomized SVD of Halko,
Martinsson & Tropp (2011, SIAM Review 53:217, Algorithms 4.4 and 5.1; the power iterations normalised by
QR) runs on that operator: no (subject, feature) copy of the real-valued views. S1's start, called
repeatedly in one process: 0.13-0.24 s against 0.36-0.64 s for the explicit matrix and scikit-learn's PCA, the
same start (each factor's correlation with its counterpart 1.000000). End to end that is a few hundredths of
a second of a warm S1 fit where memory is cheap to touch, more where it is not (on a 2-core VM, memory that
had gone back to the host cost up to 9 ms per MB to touch again).
"""

from __future__ import annotations

import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.data.kinds import data_kind

# the PCA start of a larger cohort is fitted on this many subjects drawn at random (seeded), and all
# subjects are then projected block by block: the principal axes of 20,000 subjects are those of the
# cohort up to sampling error, and no (N, D) matrix is built (a start, not an estimate)
PCA_SUBJECTS = 20_000
OVERSAMPLES = 10    # the randomized SVD's extra directions (scikit-learn's default)
COLUMN_BLOCK = 256  # columns per block when a view's standard deviations are computed


def _precision(views) -> type:
    """float32 when every view's values are float32 (a large cohort held in single precision), else float64."""
    return np.float32 if all(np.asarray(v.y).dtype == np.float32 for v in views) else np.float64


def _standardised(view, dtype=np.float64, rows=slice(None), stats=None):
    """Column-standardised view of the subjects ``rows`` for the PCA start, in ``dtype``; missing entries
    become the column mean (0). The column means and sds are those of these subjects
    (:func:`_column_stats`), or ``stats`` (mean, sd) when given. Returns (values, (mean, sd)); one new
    (subject, feature) array plus one transient."""
    y = np.asarray(view.y)[rows].astype(dtype, copy=False)
    if data_kind(view.likelihood) == "count":
        y = np.log1p(y / np.exp(np.asarray(view.log_offset, dtype=dtype)[rows])[:, None])
    m = np.asarray(view.mask, dtype=bool)[rows]
    mean, sd = _column_stats(y, m) if stats is None else stats
    out = np.subtract(y, mean.astype(dtype))
    if not m.all():
        out[~m] = 0.0
    out /= np.where(sd > 0, sd, 1.0).astype(dtype)
    out[:, sd == 0] = 0.0
    return out, (mean, sd)


def _implicit(view) -> bool:
    """Whether a view enters :class:`StartMatrix` as its own values: real-valued and complete (a count view
    is log-transformed and a view with missing entries masked, each into a new array)."""
    return data_kind(view.likelihood) != "count" and bool(np.all(view.mask))


def _column_stats(y: np.ndarray, mask: np.ndarray):
    """Column means and standard deviations (float64) over the observed entries, a block of columns at a
    time (no (subject, feature) temporary)."""
    complete = bool(mask.all())
    n_obs = np.maximum(mask.sum(axis=0), 1)
    mean = (y if complete else np.where(mask, y, 0)).sum(axis=0, dtype=np.float64) / n_obs
    sd = np.empty(y.shape[1])
    for a in range(0, y.shape[1], COLUMN_BLOCK):
        cols = slice(a, a + COLUMN_BLOCK)
        block = y[:, cols] - mean[cols].astype(y.dtype)
        if not complete:
            block[~mask[:, cols]] = 0.0
        sd[cols] = np.sqrt(np.einsum("nd,nd->d", block, block, dtype=np.float64) / n_obs[cols])
    return mean, sd


class StartMatrix:
    """The (subjects, sum of features) matrix of :func:`pca_matrix` as products only.

    A complete real-valued view is held as its values Y with column means mu and multipliers
    s = 1 / (sd sqrt(D)) (0 for a constant column): its block is (Y - 1 mu^T) diag(s), so
    X B = Y (s * B) - 1 (mu s)^T B and X^T A = s * (Y^T A - mu 1^T A). Other views are standardised into
    arrays of their own. The design's columns are regressed out by (I - P), P = H pinv(H).
    """

    def __init__(self, arrays: ModelArrays, dtype, design: np.ndarray | None):
        self.dtype = dtype
        self.blocks = []
        for v in arrays.views:
            if _implicit(v):
                y = np.asarray(v.y).astype(dtype, copy=False)
                mean, sd = _column_stats(y, np.asarray(v.mask, dtype=bool))
                s = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0) / np.sqrt(v.n_features)
                self.blocks.append((y, mean * s, s))
            else:
                x, _ = _standardised(v, dtype)
                x /= np.sqrt(v.n_features)
                self.blocks.append((x, None, None))
        self.design = None if design is None or design.shape[1] == 0 else np.asarray(design, dtype=np.float64)
        self.design_pinv = None if self.design is None else np.linalg.pinv(self.design)
        self.shape = (arrays.n_subjects, sum(v.n_features for v in arrays.views))

    def _residual(self, a: np.ndarray) -> np.ndarray:
        return a if self.design is None else a - (self.design @ (self.design_pinv @ a)).astype(a.dtype, copy=False)

    def matmat(self, b: np.ndarray) -> np.ndarray:
        """X b for b (sum of features, k)."""
        out, start = np.zeros((self.shape[0], b.shape[1]), dtype=self.dtype), 0
        for y, mean_s, s in self.blocks:
            part = b[start:start + y.shape[1]]
            start += y.shape[1]
            if s is None:
                out += y @ part
            else:
                out += y @ (s[:, None] * part).astype(self.dtype, copy=False)
                out -= (mean_s @ part).astype(self.dtype)[None, :]
        return self._residual(out)

    def rmatmat(self, a: np.ndarray) -> np.ndarray:
        """X^T a for a (subjects, k)."""
        a = self._residual(a)
        col = a.sum(axis=0, dtype=np.float64)
        parts = []
        for y, mean_s, s in self.blocks:
            if s is None:
                parts.append(y.T @ a)
            else:
                ya = (y.T @ a).astype(np.float64, copy=False)
                parts.append((s[:, None] * ya - mean_s[:, None] * col[None, :]).astype(self.dtype, copy=False))
        return np.concatenate(parts, axis=0)


def randomized_svd(op: StartMatrix, n_components: int, random_state: int, n_iter: int):
    """Leading singular triplets (U, s, Vt) of ``op`` (Halko, Martinsson & Tropp 2011, Algorithms 4.4 and
    5.1: a Gaussian test matrix with OVERSAMPLES extra columns, ``n_iter`` power iterations normalised by
    QR, then the SVD of the small projected matrix). Signs: the largest |entry| of each row of Vt positive."""
    rng = np.random.default_rng([random_state, 2])
    q = rng.standard_normal((op.shape[1], n_components + OVERSAMPLES)).astype(op.dtype, copy=False)
    for _ in range(n_iter):   # QR between products (scikit-learn's LU, via SciPy, took 7 ms per call here)
        q = np.linalg.qr(op.matmat(q))[0]
        q = np.linalg.qr(op.rmatmat(q))[0]
    q = np.linalg.qr(op.matmat(q))[0]
    u_small, s, vt = np.linalg.svd(op.rmatmat(q).T, full_matrices=False)
    u, s, vt = (q @ u_small)[:, :n_components], s[:n_components], vt[:n_components]
    signs = np.sign(vt[np.arange(n_components), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1.0
    return u * signs[None, :], s, vt * signs[:, None]


def uses_randomized_svd(shape: tuple[int, int], n_components: int) -> bool:
    """Whether scikit-learn's PCA (``svd_solver='auto'``) takes its randomized solver for this shape: not
    tall and narrow (features <= 1000 and subjects >= 10 x features: the covariance), not small (<= 500 on
    both sides: the full SVD), and fewer components than 80% of the smaller side."""
    n, d = shape
    return not (d <= 1000 and n >= 10 * d) and max(shape) > 500 and n_components < 0.8 * min(shape)


def pca_matrix(arrays: ModelArrays, rows, dtype, design, stats=None, coef=None):
    """The views of subjects ``rows``, standardised, each weighted by 1/sqrt(n_features), side by side,
    with the ``design`` columns regressed out; the standardisation (per view) and regression
    coefficients are fitted here or given (``stats``, ``coef``). Returns (x, stats, coef)."""
    n_rows = len(range(arrays.n_subjects)[rows]) if isinstance(rows, slice) else len(rows)
    x = np.empty((n_rows, sum(v.n_features for v in arrays.views)), dtype=dtype)
    start, fitted = 0, []
    for i, v in enumerate(arrays.views):   # filled view by view: no list of standardised copies beside x
        block, st = _standardised(v, dtype, rows, None if stats is None else stats[i])
        block /= np.sqrt(v.n_features)
        x[:, start:start + v.n_features] = block
        start += v.n_features
        fitted.append(st)
        del block
    if design is not None:   # least squares by the pseudo-inverse: (Q, D) coefficients, no copy of x
        d = design[rows]
        coef = np.linalg.pinv(d) @ x if coef is None else coef
        for a in range(0, x.shape[0], 8192):
            x[a:a + 8192] -= (d[a:a + 8192] @ coef).astype(dtype, copy=False)
    return x, fitted, coef


def pca_factors(arrays: ModelArrays, n_factors: int, random_state: int, design: np.ndarray | None = None) -> np.ndarray:
    """(n_subjects, n_factors) PCA scores with unit variance.

    Each view is weighted by 1/sqrt(n_features) so that every view carries the same total
    variance. The columns of ``design`` (site one-hot, covariates) are regressed out first, so the
    start is not spent on what those terms explain. Components beyond the data's rank are
    filled with seeded N(0, 0.01) noise. Float32 views give a float32 PCA. Where scikit-learn's PCA would
    use its randomized solver, the randomized SVD runs on :class:`StartMatrix` (no standardised copy of
    the real-valued views; scikit-learn's stream of random numbers is not reproduced). Above
    :data:`PCA_SUBJECTS` subjects, the PCA is fitted on that many drawn at random (seeded) and every
    subject projected on its axes, a block at a time.
    """
    dtype = _precision(arrays.views)
    n, sub = arrays.n_subjects, None
    shape = (n, sum(v.n_features for v in arrays.views))
    n_comp = min(n_factors, min(shape) - 1)
    rng = np.random.default_rng(random_state)
    z = 0.1 * rng.standard_normal((n, n_factors))
    if n_comp < 1:
        return z
    if n <= PCA_SUBJECTS and uses_randomized_svd(shape, n_comp):
        # scikit-learn's iteration count for its randomized PCA: 7 when n_components < 10% of the smaller side
        u, s, vt = randomized_svd(StartMatrix(arrays, dtype, design), n_comp, random_state,
                                  n_iter=7 if n_comp < 0.1 * min(shape) else 4)
        scores, components, variance = u * s[None, :], vt, s**2 / (n - 1)
    else:
        if n > PCA_SUBJECTS:
            sub = np.sort(np.random.default_rng([random_state, 1]).choice(n, PCA_SUBJECTS, replace=False))
        # imported here: scikit-learn's decomposition package imports its linear models, model selection and
        # metrics (0.22 s in a fresh process), which the randomized path above does not need
        from sklearn.decomposition import PCA

        x, stats, coef = pca_matrix(arrays, slice(None) if sub is None else sub, dtype, design)
        pca = PCA(n_components=n_comp, random_state=random_state, copy=False)   # x is ours: centred in place
        scores = pca.fit_transform(x)
        del x
        if sub is not None:
            scores = np.concatenate([pca.transform(pca_matrix(arrays, slice(a, a + PCA_SUBJECTS), dtype, design,
                                                              stats, coef)[0]) for a in range(0, n, PCA_SUBJECTS)])
        components, variance = pca.components_, pca.explained_variance_
    if n_comp > 1:   # rotate towards sparse loadings, which the slab / ARD priors favour
        scores = scores @ varimax(components.T * np.sqrt(variance)[None, :])
    sd = scores.std(axis=0)
    z[:, :n_comp] = scores / np.where(sd > 0, sd, 1.0)
    return z


def varimax(loadings: np.ndarray, max_iter: int = 100, tol: float = 1e-8) -> np.ndarray:
    """Orthogonal (K, K) rotation maximising the varimax criterion of (features, K) loadings.

    Kaiser (1958), Psychometrika 23:187; the SVD iteration of Sherin (1966).
    """
    p, k = loadings.shape
    rot = np.eye(k)
    crit = 0.0
    for _ in range(max_iter):
        lam = loadings @ rot
        u, s, vt = np.linalg.svd(loadings.T @ (lam**3 - lam @ np.diag(np.sum(lam**2, axis=0)) / p))
        rot = u @ vt
        new = np.sum(s)
        if new < crit * (1.0 + tol):
            break
        crit = new
    return rot
