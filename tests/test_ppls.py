"""PPLS: inner relation U = T B + H, prediction of the response from predictor views only."""

import warnings

import numpy as np
import pytest

import rgfactor as rgf
from rgfactor.errors import SpecError


def ppls_blocks(n, n_components=2, p=12, q=3, seed=0, outcome=False):
    """Gaussian predictor block x (p) and response y (q, or a one-feature Bernoulli outcome) from
    the PPLS model (rgf.simulate.ppls): T ~ N(0, I), U = T B + H, x = T P^T + e, y = U C^T + f."""
    frames, _ = rgf.simulate.ppls(n, n_components, n_predictors=p, n_responses=q, outcome=outcome, random_state=seed)
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
    with pytest.raises(SpecError, match="'svi' or 'nuts'"):
        rgf.PPLS(1, response="y", sparsity="horseshoe").fit(data, method="cavi")
