"""The process-convolution basis of the GP factors (gp_basis='convolution'): its covariance is the
squared-exponential kernel's, and a fit recovers a lengthscale shorter than an HSGP basis of the same
size resolves in 2-D."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf
from rgfactor.errors import SpecError
from rgfactor.generative.conv_basis import ConvolutionBasis

from conftest import matched_factors


@pytest.mark.timeout(60)
def test_convolution_basis_covariance_is_the_squared_exponential():
    """Phi R_l^2 Phi^T (uncentred bumps) against exp(-d^2 / (2 l^2)) at locations away from the edge:
    the discrete process convolution of Higdon (2002) with the lattice spacing = the bumps' sd."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0.0, 100.0, size=(2000, 2))
    basis = ConvolutionBasis.from_coordinates(xy, 4.0, max_size=900)
    assert basis.size <= 900 and basis.shortest_lengthscale() == pytest.approx(np.sqrt(2) * basis.width)
    assert basis.shortest_lengthscale() >= 4.0                        # widened to fit 900 lattice points
    inner = np.array([[50.0, 50.0], [52.0, 50.0], [55.0, 51.0], [60.0, 50.0], [70.0, 45.0], [35.0, 62.0]])
    d = np.linalg.norm(inner[:, None] - inner[None], axis=-1)
    phi = np.asarray(basis.raw_phi(inner))
    for ls in (basis.shortest_lengthscale(), 8.0, 20.0):
        root = basis.weight_roots([ls])[0]
        cov = phi @ root @ root @ phi.T
        var = np.diag(cov)
        assert np.all((var > 0.9) & (var < 1.15)), (ls, var)          # unit variance up to the edge's share
        np.testing.assert_allclose(cov / np.sqrt(np.outer(var, var)), np.exp(-d ** 2 / (2 * ls ** 2)), atol=0.02)
    back = ConvolutionBasis.from_json(basis.to_json())
    assert back == basis and json.loads(basis.to_json())["kind"] == "convolution"


# ----------------------------------------------------------------------------- a fit
TRUE_LENGTHSCALES = (0.08, 0.3, 0.0)
VIEWS = {"expr": ("gaussian", 40), "counts": ("negative_binomial", 40)}


@pytest.fixture(scope="module")
def conv_fit():
    data, truth = rgf.simulate.spatial(800, TRUE_LENGTHSCALES, views=VIEWS, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(n_factors=3, factor_prior="gp", gp_basis="convolution", n_basis=600, num_draws=100,
                        progress=False, random_state=0).fit(data)
    return data, truth, model


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_convolution_basis_recovers_a_short_lengthscale(conv_fit):
    data, truth, model = conv_fit
    assert model.diagnostics_["method"] == "cavi"
    elbo = np.asarray(model.diagnostics_["elbo"])
    assert np.all(np.diff(elbo) >= -1e-8 * np.abs(elbo[1:]))           # coordinate ascent: never decreases
    cols, corr = matched_factors(truth["Z"], model.factors_.values)
    assert np.all(corr[:2] > 0.9), corr
    table = model.factor_smoothness()
    for k in (0, 1):                                                  # lengthscale within a factor of 1.5
        est = table["lengthscale"].iloc[cols[k]]
        assert TRUE_LENGTHSCALES[k] / 1.5 < est < TRUE_LENGTHSCALES[k] * 1.5, (k, est)
        assert table["scale"].iloc[cols[k]] > 0.7, table
    assert table["scale"].iloc[cols[2]] < 0.3, table
    # an HSGP basis of as many functions (24 x 24) resolves only lengthscales above the true short one
    from rgfactor.generative.gp_factors import gp_factor_settings
    from rgfactor.generative.hsgp import HSGPBasis

    hsgp = HSGPBasis.from_json(gp_factor_settings(data.coordinates.to_numpy(), (0.05, 1.5), n_basis=24)["basis"])
    assert hsgp.shortest_lengthscale() > TRUE_LENGTHSCALES[0]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_convolution_basis_interpolates_transforms_and_roundtrips(conv_fit, tmp_path):
    data, truth, model = conv_fit
    cols, _ = matched_factors(truth["Z"], model.factors_.values)
    at = model.factors_at(data.coordinates)
    for k in (0, 1):                                                  # the smooth part follows the smooth truth
        assert abs(np.corrcoef(at.values[:, cols[k]], truth["Z"][:, k])[0, 1]) > 0.85
    sub = data.subset(list(data.subjects[:40]))
    z_new = model.transform(sub)
    for k in (0, 1):
        assert np.corrcoef(z_new.values[:, cols[k]], model.factors_.values[:40, cols[k]])[0, 1] > 0.95
    model.save(tmp_path / "fit")
    back = rgf.load(tmp_path / "fit")
    pd.testing.assert_frame_equal(back.factor_smoothness(), model.factor_smoothness())
    np.testing.assert_allclose(back.factors_at(data.coordinates[:5]).values, at.values[:5], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(back.transform(sub).values, z_new.values, rtol=1e-5, atol=1e-5)


@pytest.mark.timeout(60)
def test_convolution_basis_is_closed_form_only_and_checked():
    data, _ = rgf.simulate.spatial(30, (0.3,), views={"g": ("gaussian", 5)}, random_state=0)
    with pytest.raises(SpecError, match="no update for GPFactors.*method='cavi'"):
        rgf.GFA(n_factors=1, factor_prior="gp", gp_basis="convolution", method="svi").fit(data)
    with pytest.raises(SpecError, match="unknown gp_basis 'kernel'"):
        rgf.GFA(n_factors=1, factor_prior="gp", gp_basis="kernel").fit(data)
    with pytest.raises(SpecError, match="most lattice points"):
        rgf.GFA(n_factors=1, factor_prior="gp", gp_basis="convolution", n_basis=(10, 10)).fit(data)
    regions, _ = rgf.simulate.regions(12, 3, random_state=0)
    with pytest.raises(SpecError, match="not available with region-level views"):
        rgf.GFA(n_factors=1, factor_prior="gp", gp_basis="convolution").fit(regions)
