"""Sign and permutation alignment of factor-model posterior draws, then the canonical order.

A factor model is identified only up to the order and sign of its factors (and, without sparsity
priors, a rotation): chains, and occasionally draws within a chain, settle in different labellings.
Averaging or computing R-hat before aligning them shrinks means toward zero and inflates R-hat.

Method (a per-draw version of the Procrustes matching used by cca_zoo and of the permutation
re-labelling of Stephens 2000, JRSS-B 62:795):
1. Stack, per draw, the rows of ``Z`` and of every ``W_<view>`` into one (R, K) matrix.
2. Reference = mean over all draws of the current labelling (chain 0 at the start).
3. For every draw, the cosine similarity between its K columns and the reference's; the
   Hungarian algorithm (scipy.optimize.linear_sum_assignment) on |similarity| gives the permutation,
   the sign of the matched similarity the flip.
4. Repeat 2-3 until no draw changes labelling (at most ``max_iter`` rounds).
Variables whose declared role is factor-indexed (last axis = factor) are then permuted, and those
that are signed (Z, the loadings, any factor -> outcome coefficient) are also flipped
(:class:`rgfactor.generative.variables.Role`): nothing is recognised by its name.

Optionally (:func:`rotate_draws`, used for NUTS) each draw is then rotated to the reference by
orthogonal Procrustes (Schoenemann 1966; scipy.linalg.orthogonal_procrustes), Z -> Z R and
W -> W R, which leaves Z W^T and the likelihood unchanged. With rotation-invariant N(0, I) factors
the posterior keeps a ridge along rotations that ARD breaks only weakly; NUTS drifts along it
slowly, which would show as high R-hat and low ESS of Z and W although the fitted subspace mixes
well. ARD precisions are permuted but not rotated.

Structured models (PCCA, PPLS) pass ``groups``: a (K,) integer label per factor, factors with the same
activity pattern sharing a label (label 0 = the shared factors). Permutations and rotations then
never move a factor across groups (a shared factor cannot become a view-specific one); the canonical
order puts the groups in label order and sorts by importance within each group. ``groups=None``
(GFA) is the same as all factors in one group.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.optimize import linear_sum_assignment

from rgfactor.generative.variables import Role

def _rotatable(draws: dict, roles: dict) -> list[str]:
    """Z first, then the other rotatable variables (the loadings) in name order."""
    return ["Z"] + sorted(k for k in draws if k != "Z" and roles[k].rotatable)


def _stack(draws: dict, roles: dict) -> np.ndarray:
    names = _rotatable(draws, roles)
    c, s = draws["Z"].shape[:2]
    k = draws["Z"].shape[-1]
    return np.concatenate([draws[n].reshape(c, s, -1, k) for n in names], axis=2)


def apply_labelling(draws: dict, perm: np.ndarray, sign: np.ndarray, roles: dict) -> dict:
    """Relabel factors: ``perm`` (chain, draw, K) gives, for each new factor, the old one; ``sign`` flips.

    ``roles``: name -> Variable (or anything with ``factor_indexed``/``signed``) for every draw name.
    """
    out = dict(draws)
    for name, x in draws.items():
        if not roles[name].factor_indexed:
            continue
        idx = np.broadcast_to(perm.reshape(perm.shape[:2] + (1,) * (x.ndim - 3) + perm.shape[-1:]), x.shape)
        y = np.take_along_axis(x, idx, axis=-1)
        if roles[name].signed:
            y = y * sign.reshape(sign.shape[:2] + (1,) * (x.ndim - 3) + sign.shape[-1:])
        out[name] = y
    return out


def _group_penalty(groups, k: int) -> np.ndarray:
    """(K, K) assignment cost added to pairs of factors in different groups (0 within a group)."""
    if groups is None:
        return np.zeros((k, k))
    g = np.asarray(groups)
    return np.where(g[:, None] == g[None, :], 0.0, 1e6)


def align_draws(draws: dict, roles: dict, max_iter: int = 10, groups=None) -> tuple[dict, dict]:
    """Align the factor labelling of all draws to a common reference (see module docstring).

    Parameters
    ----------
    draws : dict name -> (chain, draw, ...) arrays containing 'Z' and the loadings.
    roles : name -> declared Variable of every draw (:meth:`Model.variables`).
    groups : optional (K,) group label per factor; a factor is only matched within its group.

    Returns
    -------
    aligned draws, and info {'n_relabelled': draws whose labelling changed, 'n_iter': rounds}.
    """
    m = _stack(draws, roles)
    c, s, _, k = m.shape
    norm = m / np.maximum(np.linalg.norm(m, axis=2, keepdims=True), 1e-12)
    perm = np.broadcast_to(np.arange(k), (c, s, k)).copy()
    sign = np.ones((c, s, k))
    ref = m[0].mean(0)
    penalty = _group_penalty(groups, k)
    for it in range(max_iter):
        refn = ref / np.maximum(np.linalg.norm(ref, axis=0, keepdims=True), 1e-12)
        sim = np.einsum("csri,rj->csij", norm, refn)  # draw factor i vs reference factor j
        new_perm, new_sign = np.empty_like(perm), np.empty_like(sign)
        for ci in range(c):
            for si in range(s):
                rows, cols = linear_sum_assignment(penalty - np.abs(sim[ci, si]))
                p = np.empty(k, dtype=int)
                p[cols] = rows
                new_perm[ci, si] = p
                new_sign[ci, si] = np.sign(sim[ci, si][p, np.arange(k)]) + (sim[ci, si][p, np.arange(k)] == 0)
        changed = not (np.array_equal(new_perm, perm) and np.array_equal(new_sign, sign))
        perm, sign = new_perm, new_sign
        aligned = np.take_along_axis(m, np.broadcast_to(perm[:, :, None, :], m.shape), axis=-1) * sign[:, :, None, :]
        ref = aligned.reshape(c * s, -1, k).mean(0)
        if not changed and it > 0:
            break
    identity = np.arange(k)
    info = {"n_relabelled": int(((perm != identity).any(-1) | (sign < 0).any(-1)).sum()), "n_iter": it + 1}
    return apply_labelling(draws, perm, sign, roles), info


def canonical_order(draws: dict, importance: np.ndarray, roles: dict, n_top: int = 10,
                    groups=None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Order factors by ``importance`` (descending) and sign them so that the sum of the ``n_top``
    largest-|w| posterior-mean loadings (all views stacked) is positive (ARCHITECTURE.md, Names).
    With ``groups`` ((K,) labels), groups come in label order and factors are ordered within each.

    Returns the relabelled draws, the order (new -> old) and the signs applied.
    """
    k = draws["Z"].shape[-1]
    if groups is None:
        order = np.argsort(-np.asarray(importance), kind="stable")
    else:  # lexicographic: group label first, then importance descending
        order = np.lexsort((-np.asarray(importance), np.asarray(groups)))
    loadings = [n for n in _rotatable(draws, roles)[1:] if not roles[n].role & Role.PATH]
    w = np.concatenate([draws[n].mean(axis=(0, 1)).reshape(-1, k) for n in loadings], axis=0)[:, order]
    sign = np.ones(k)
    for j in range(k):
        top = np.argsort(-np.abs(w[:, j]))[: min(n_top, w.shape[0])]
        sign[j] = -1.0 if w[top, j].sum() < 0 else 1.0
    out = dict(draws)
    if np.array_equal(order, np.arange(k)) and np.all(sign > 0):
        return out, order, sign
    for name, x in draws.items():   # one labelling for every draw: one copy, the factor axis taken in order
        if roles[name].factor_indexed:
            out[name] = np.take(x, order, axis=-1)
            if roles[name].signed:
                out[name] *= sign.astype(out[name].dtype)
    return out, order, sign


def rotate_draws(draws: dict, roles: dict, max_iter: int = 20, tol: float = 1e-6, groups=None) -> tuple[dict, dict]:
    """Rotate each draw's Z and W_<view> to the common reference by orthogonal Procrustes.

    Run after :func:`align_draws`. With ``groups`` the rotation is block-diagonal (one orthogonal
    Procrustes per group), so it never mixes factors of different groups.
    Returns the rotated draws and {'n_iter': rounds}.
    """
    if groups is not None and len(np.unique(groups)) > 1:
        out, n_iter = dict(draws), 0
        for g in np.unique(groups):
            idx = np.flatnonzero(np.asarray(groups) == g)
            sub = {n: draws[n][..., idx] for n in _rotatable(draws, roles)}
            rot, info = rotate_draws(sub, roles, max_iter, tol)
            for n, v in rot.items():
                out[n] = out[n].copy()
                out[n][..., idx] = v
            n_iter = max(n_iter, info["n_iter"])
        return out, {"n_iter": n_iter}
    m = _stack(draws, roles)
    c, s, r, k = m.shape
    flat = m.reshape(c * s, r, k)
    ref = flat.mean(0)
    rots = np.broadcast_to(np.eye(k), (c * s, k, k)).copy()
    for it in range(max_iter):
        rots = np.stack([orthogonal_procrustes(flat[i], ref)[0] for i in range(c * s)])
        new_ref = np.einsum("nrk,nkj->rj", flat, rots) / (c * s)
        done = np.linalg.norm(new_ref - ref) <= tol * max(np.linalg.norm(ref), 1e-12)
        ref = new_ref
        if done:
            break
    rots = rots.reshape(c, s, k, k)
    out = dict(draws)
    for name in _rotatable(draws, roles):
        out[name] = np.einsum("cs...k,cskj->cs...j", draws[name], rots)
    return out, {"n_iter": it + 1}
