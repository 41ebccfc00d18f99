"""Alignment of factor labellings: known permutations, sign flips and rotations are undone."""

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from rgfactor.generative.variables import FACTOR_COEF, FACTOR_SCALE, PLAIN, SCORES, Variable
from rgfactor.posterior.align import align_draws, canonical_order, rotate_draws

# the roles a model would declare for these draws (rgfactor.generative: Z, loadings, ARD, intercept)
ROLES = {"Z": Variable("Z", ("subject", "factor"), SCORES), "W_a": Variable("W_a", ("a_feature", "factor"), SCORES),
         "alpha_a": Variable("alpha_a", ("factor",), FACTOR_SCALE),
         "intercept_a": Variable("intercept_a", ("a_feature",), PLAIN)}


def draws_around(z, w, n_chains=3, n_draws=40, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    zs = z + noise * rng.normal(size=(n_chains, n_draws) + z.shape)
    ws = w + noise * rng.normal(size=(n_chains, n_draws) + w.shape)
    alpha = np.broadcast_to(np.arange(1.0, z.shape[1] + 1), (n_chains, n_draws, z.shape[1])).copy()
    return {"Z": zs, "W_a": ws, "alpha_a": alpha, "intercept_a": rng.normal(size=(n_chains, n_draws, w.shape[0]))}


@pytest.fixture
def truth():
    rng = np.random.default_rng(1)
    return rng.normal(size=(50, 4)), rng.normal(size=(30, 4))


def test_scrambled_draws_are_realigned(truth):
    z, w = truth
    d = draws_around(z, w)
    rng = np.random.default_rng(2)
    scrambled = {k: v.copy() for k, v in d.items()}
    perms = {}
    for c in range(3):
        for s in range(40):
            if (c, s) == (0, 0):
                continue  # keep one reference labelling
            if rng.random() < 0.5:
                p = rng.permutation(4)
                sg = rng.choice([-1.0, 1.0], size=4)
                scrambled["Z"][c, s] = d["Z"][c, s][:, p] * sg
                scrambled["W_a"][c, s] = d["W_a"][c, s][:, p] * sg
                scrambled["alpha_a"][c, s] = d["alpha_a"][c, s][p]
                perms[(c, s)] = p
    aligned, info = align_draws(scrambled, ROLES)
    assert info["n_relabelled"] >= len(perms) - 1
    np.testing.assert_allclose(aligned["Z"], d["Z"], atol=1e-12)
    np.testing.assert_allclose(aligned["W_a"], d["W_a"], atol=1e-12)
    np.testing.assert_allclose(aligned["alpha_a"], d["alpha_a"])  # precisions follow their factor
    np.testing.assert_array_equal(aligned["intercept_a"], d["intercept_a"])  # not factor-indexed


def test_unaligned_mean_shrinks_but_aligned_mean_does_not(truth):
    z, w = truth
    d = draws_around(z, w, n_chains=2)
    flipped = {k: v.copy() for k, v in d.items()}
    flipped["Z"][1] *= -1
    flipped["W_a"][1] *= -1
    naive = flipped["Z"].mean((0, 1))
    assert np.abs(naive).mean() < 0.1 * np.abs(z).mean()  # the reason alignment exists
    aligned, _ = align_draws(flipped, ROLES)
    np.testing.assert_allclose(aligned["Z"].mean((0, 1)), z, atol=0.05)


def test_rotation_is_undone_and_product_preserved(truth):
    z, w = truth
    d = draws_around(z, w, n_chains=2, n_draws=20, noise=0.01)
    rot = {k: v.copy() for k, v in d.items()}
    for c in range(2):
        for s in range(20):
            r = special_ortho_group.rvs(4, random_state=c * 100 + s)
            rot["Z"][c, s] = d["Z"][c, s] @ r
            rot["W_a"][c, s] = d["W_a"][c, s] @ r
    aligned, _ = rotate_draws(rot, ROLES)
    # Z W^T is invariant, and all draws now agree up to the noise
    np.testing.assert_allclose(np.einsum("csnk,csdk->csnd", aligned["Z"], aligned["W_a"]),
                               np.einsum("csnk,csdk->csnd", rot["Z"], rot["W_a"]), atol=1e-10)
    spread = aligned["Z"].std(axis=(0, 1)).mean()
    assert spread < 0.05


def test_canonical_order_and_sign(truth):
    z, w = truth
    d = draws_around(z, w, n_chains=1, n_draws=5)
    importance = np.array([0.1, 0.4, 0.2, 0.3])
    out, order, sign = canonical_order(d, importance, ROLES)
    assert list(order) == [1, 3, 2, 0]
    wm = out["W_a"].mean((0, 1))
    for k in range(4):
        top = np.argsort(-np.abs(wm[:, k]))[:10]
        assert wm[top, k].sum() > 0
    np.testing.assert_array_equal(out["Z"], d["Z"][..., order] * sign)
    np.testing.assert_array_equal(out["alpha_a"], d["alpha_a"][..., order])


def test_a_new_factor_indexed_coefficient_follows_its_factor(truth):
    """A toy extra component declares 'path_y' (factor,) as a signed factor coefficient (a factor ->
    outcome path): flip a factor's sign and permute factors in a draw, and alignment flips and permutes
    the coefficient with Z, by its declared role alone. Declared as a plain (unsigned) factor scale, it
    is permuted but never flipped."""
    z, w = truth
    d = draws_around(z, w, n_chains=1, n_draws=6)
    d["path_y"] = np.broadcast_to(np.array([0.5, -1.0, 2.0, 0.25]), (1, 6, 4)).copy()
    scrambled = {k: v.copy() for k, v in d.items()}
    p, sg = np.array([2, 0, 3, 1]), np.array([1.0, -1.0, 1.0, -1.0])
    for name in ("Z", "W_a"):
        scrambled[name][0, 3] = d[name][0, 3][..., p] * sg
    scrambled["path_y"][0, 3] = d["path_y"][0, 3][p] * sg
    scrambled["alpha_a"][0, 3] = d["alpha_a"][0, 3][p]
    roles = {**ROLES, "path_y": Variable("path_y", ("factor",), FACTOR_COEF)}
    aligned, _ = align_draws(scrambled, roles)
    np.testing.assert_allclose(aligned["path_y"], d["path_y"])
    np.testing.assert_allclose(aligned["Z"], d["Z"], atol=1e-12)
    unsigned, _ = align_draws(scrambled, {**ROLES, "path_y": Variable("path_y", ("factor",), FACTOR_SCALE)})
    np.testing.assert_allclose(unsigned["path_y"][0, 3], d["path_y"][0, 3] * sg[np.argsort(p)])  # permuted, not flipped
