"""PPLS: inner relation U = T B + H, prediction of the response from predictor views only."""

import warnings

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf
from rgfactor.errors import SpecError


def ppls_blocks(n, n_components=2, p=12, q=3, seed=0, outcome=False):
    """Gaussian predictor block x (p) and response y (q, or a one-feature Bernoulli outcome) from
    the PPLS model: T ~ N(0, I), U = T B + H, x = T P^T + e, y = U C^T + f."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(n, n_components))
    u = t * np.array([1.5, -1.0][:n_components]) + 0.4 * rng.normal(size=t.shape)
    x = t @ rng.normal(size=(p, n_components)).T + rng.normal(size=(n, p))
    eta = u @ rng.normal(size=(q, n_components)).T
    y = (rng.random((n, 1)) < 1 / (1 + np.exp(-2 * eta[:, :1]))).astype(float) if outcome \
        else eta + 0.5 * rng.normal(size=(n, q))
    idx = [f"s{i}" for i in range(n)]
    frames = {"x": pd.DataFrame(x, index=idx, columns=[f"x{j}" for j in range(p)]),
              "y": pd.DataFrame(y, index=idx, columns=[f"y{j}" for j in range(y.shape[1])])}
    return frames


def fit(model, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(data)


def test_ppls_prediction_matches_pls_and_beats_prior():
    """N=300 train, 100 test, J=2: the predicted response of test subjects (x only) correlates > 0.95
    with PLSRegression's per feature (both estimate E[y | x] = x-linear), and its mean squared error
    is below that of the prior predictive (the training mean) by at least half."""
    from sklearn.cross_decomposition import PLSRegression

    frames = ppls_blocks(400)
    train = {k: v.iloc[:300] for k, v in frames.items()}
    data = rgf.MultiViewData.from_pandas(train, {"x": "gaussian", "y": "gaussian"})
    m = fit(rgf.PPLS(2, response=["y"], max_iter=1500, num_draws=50), data)
    post = m.idata_.posterior
    assert post["Z"].shape[-1] == 4 and np.all(post["W_x"].values[..., 2:] == 0)
    assert "ppls_sigma_h" in post
    test = rgf.MultiViewData.from_pandas({"x": frames["x"].iloc[300:]}, {"x": "gaussian"})
    pred = m.predict(test)
    assert pred.dims == ("subject", "y_feature") and pred.shape == (100, 3)
    prep = m.preprocessing_.views["y"]
    y_test = (frames["y"].iloc[300:].to_numpy() - np.asarray(prep.centre)) / np.asarray(prep.scale)
    pls = PLSRegression(2).fit(train["x"], train["y"]).predict(frames["x"].iloc[300:])
    for j in range(3):
        assert np.corrcoef(pred.values[:, j], pls[:, j])[0, 1] > 0.95
    assert ((pred.values - y_test) ** 2).mean() < 0.5 * (y_test**2).mean()


def test_ppls_needs_a_response_and_a_predictor():
    data = rgf.MultiViewData.from_pandas(ppls_blocks(20), {"x": "gaussian", "y": "gaussian"})
    with pytest.raises(SpecError, match="response"):
        rgf.PPLS(1).fit(data)
    with pytest.raises(SpecError, match="predictor"):
        rgf.PPLS(1, response=["x", "y"]).fit(data)
    with pytest.raises(SpecError, match="nuts"):
        rgf.PPLS(1, response="y").fit(data, method="cavi")
