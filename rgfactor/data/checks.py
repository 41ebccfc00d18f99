"""Checks of doubtful input: one place for every error and warning about data and settings that are
valid Python but doubtful statistics. docs/input_checks.md lists them in one table.

Each check names the view, feature, subject, covariate or setting at fault and the way out. An
*error* where the fit would be meaningless (an identifier used as a covariate, more factors than
subjects); a *warning* where a careful analyst may proceed (near-collinear covariates, a site nearly
confounded with a covariate, new subjects from an unseen site).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd

from rgfactor.errors import DataError, DataWarning, SpecError

# a categorical covariate with more levels than this fraction of the subjects (and at least
# MIN_ID_LEVELS levels) is an identifier, not a covariate
ID_LEVEL_FRACTION = 0.5
MIN_ID_LEVELS = 10
CONDITION_LIMIT = 1e6        # standardised covariates with a larger condition number: near-collinear
CONFOUNDED_R2 = 0.9          # a covariate this well explained by site dummies: site and covariate confounded


def _warn(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=4)


# ------------------------------------------------------------------------------ identifiers
def subject_id(value) -> str:
    """The canonical string form of a subject ID: integers and integral floats without a decimal part
    (0, 0.0, np.int64(0) -> '0'), other values as ``str``."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def normalise_ids(index: pd.Index, what: str) -> pd.Index:
    """Subject IDs as canonical strings (:func:`subject_id`), with a check that no two different IDs
    collide (0 and '0' in one index name the same subject).

    Raises
    ------
    DataError  for a missing (NaN) ID or two entries that are the same subject once canonical.
    """
    if index.isna().any():
        raise DataError(f"{what} has a missing (NaN) subject ID.")
    out = pd.Index([subject_id(v) for v in index], name=index.name)
    dup = out[out.duplicated()]
    if len(dup):
        first = dup[0]
        originals = [repr(v) for v, c in zip(index, out) if c == first]
        raise DataError(f"{what} has subject ID '{first}' more than once ({', '.join(originals)}): each subject must "
                        "appear once (IDs are compared as text: 0, 0.0 and '0' are the same subject).")
    return out


def numeric_form(label: str) -> str | None:
    try:
        x = float(label)
    except ValueError:
        return None
    return subject_id(x) if np.isfinite(x) else None


def check_id_formats(indexes: dict[str, pd.Index]) -> None:
    """Raise when views share no subject only because their IDs are written differently ('7' vs '7.0'
    vs '007', or 'TCGA-CS-4941' vs 'TCGA_CS_4941')."""
    names = list(indexes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sa, sb = set(indexes[a]), set(indexes[b])
            if sa & sb:
                continue
            na = {numeric_form(x) for x in sa} - {None}
            nb = {numeric_form(x) for x in sb} - {None}
            ka = {x.replace("_", "-").replace(".", "-").upper() for x in sa}
            kb = {x.replace("_", "-").replace(".", "-").upper() for x in sb}
            if (na & nb) or (ka & kb):
                ex_a = sorted(sa)[:2]
                ex_b = sorted(sb)[:2]
                raise DataError(f"views '{a}' and '{b}' share no subject, but their IDs match once written alike "
                                f"(e.g. {ex_a} vs {ex_b}): write the subject IDs the same way in every table.")


# ------------------------------------------------------------------------------ covariates
def check_covariates(raw: pd.DataFrame) -> pd.DataFrame:
    """Validate covariates before encoding; returns the frame with constant columns dropped.

    Raises DataError for an identifier-like column (a text column with a level per subject or nearly).
    Warns (DataWarning) and drops a constant column.
    """
    n = len(raw)
    out = raw.copy()
    for col in raw.columns:
        values = raw[col]
        if not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            levels = values.nunique(dropna=True)
            if levels >= MIN_ID_LEVELS and levels > ID_LEVEL_FRACTION * n:
                raise DataError(f"covariate '{col}' is text with {levels} distinct values for {n} subjects: an "
                                f"identifier, not a covariate (it would become {levels - 1} dummy columns). Drop it, "
                                "or convert it to a number if it is one.")
        if values.nunique(dropna=True) <= 1:
            _warn(f"covariate '{col}' is constant ({values.iloc[0]!r} for every subject): it carries no information "
                  "besides the intercept and is dropped.")
            out = out.drop(columns=col)
    return out


def check_encoded_covariates(cov: pd.DataFrame, site: pd.Series | None) -> None:
    """Warnings on the encoded (numeric) covariates: near-collinearity (condition number of the
    standardised columns) and near-confounding with the site (R^2 of a covariate on the site dummies)."""
    if cov is None or cov.shape[1] == 0:
        return
    x = cov.to_numpy(dtype=float)
    sd = x.std(axis=0)
    xs = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    if cov.shape[1] > 1:
        sv = np.linalg.svd(xs, compute_uv=False)
        cond = np.inf if sv[-1] <= 1e-12 * sv[0] else sv[0] / sv[-1]
        if cond > CONDITION_LIMIT:
            _, _, vt = np.linalg.svd(xs, full_matrices=False)
            involved = [cov.columns[j] for j in np.flatnonzero(np.abs(vt[-1]) > 0.1)]
            kind = "perfectly collinear" if not np.isfinite(cond) else f"nearly collinear (condition number {cond:.2g})"
            _warn(f"covariates {involved} are {kind}: their effects are not separately identified (the priors decide "
                  "the split). Drop or combine them.")
    if site is not None and site.nunique() > 1:
        dummies = pd.get_dummies(site, dtype=float).to_numpy()
        for j, col in enumerate(cov.columns):
            y = xs[:, j]
            if np.allclose(y, 0):
                continue
            fitted = dummies @ np.linalg.lstsq(dummies, y, rcond=None)[0]
            r2 = 1.0 - np.sum((y - fitted) ** 2) / np.sum((y - y.mean()) ** 2)
            if r2 >= CONFOUNDED_R2:
                _warn(f"covariate '{col}' is {'fully' if r2 > 1 - 1e-9 else 'nearly'} confounded with the site "
                      f"(R^2 = {r2:.3f} on the site labels): site and covariate effects cannot be told apart; their "
                      "posteriors will be wide.")


# ------------------------------------------------------------------------------ settings vs data
def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """A setting that must be a whole number >= ``minimum``; raises SpecError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        raise SpecError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    if value < minimum:
        raise SpecError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def check_site_setting(site_effects, site: pd.Series | None):
    """The site setting to fit (False when none can be). Raises SpecError for site effects without a
    site or an unknown setting; warns and returns False for a site with one level."""
    if site_effects not in (True, False, None, "none", "auto", "location", "location_scale") \
            or isinstance(site_effects, (int, float)) and not isinstance(site_effects, bool):
        raise SpecError(f"site_effects must be False ('none'), True ('auto'), 'location' or 'location_scale', "
                        f"got {site_effects!r}.")
    if site_effects in (False, None, "none"):
        return False
    if site is None:
        raise SpecError("site_effects=True but the data have no site; pass site= to MultiViewData.from_pandas "
                        "or set site_effects=False.")
    if site.nunique() < 2:
        _warn(f"the site has a single level ('{site.iloc[0]}'): site effects are not estimable and are left out.")
        return False
    return site_effects


def check_factor_count(n_factors: int, n_subjects: int, features: dict[str, int]) -> None:
    """Raise SpecError when there are at least as many factors as subjects, or as features in every view."""
    if n_factors >= n_subjects:
        raise SpecError(f"{n_factors} factors for {n_subjects} subjects: a factor model needs fewer factors than "
                        "subjects. Lower n_factors.")
    if all(n_factors >= d for d in features.values()):
        raise SpecError(f"{n_factors} factors, but no view has more features than that ({features}): lower n_factors.")


def check_new_data(view_features: dict[str, list], fitted: dict[str, list], new_site: pd.Series | None,
                   fitted_sites: list) -> None:
    """New subjects against a fit: raise when a view given shares no feature with the fitted one;
    warn for an unseen site (its subjects get no site effect) and for views missing most features."""
    for view, feats in view_features.items():
        if view not in fitted:
            raise DataError(f"view '{view}' was not part of the fitted model (views: {list(fitted)}).")
        known = set(fitted[view])
        shared = known & set(feats)
        if feats and not shared:
            raise DataError(f"view '{view}' of the new data shares no feature with the fitted model (e.g. "
                            f"'{feats[0]}' vs fitted '{sorted(known)[0]}'): check the feature names.")
        if known and len(shared) < 0.5 * len(known):
            _warn(f"view '{view}' of the new data has {len(shared)} of the {len(known)} fitted features; the others "
                  "are treated as missing.")
    if new_site is not None and fitted_sites:
        unseen = sorted(set(new_site.astype(str)) - set(fitted_sites))
        if unseen:
            _warn(f"site(s) {unseen[:5]} were not in the fit: their subjects get no site effect (the population "
                  "average).")
