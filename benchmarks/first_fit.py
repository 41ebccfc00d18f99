"""What a user waits for in an SVI or NUTS fit: the first fit in a fresh process and the next one in the same process.

Cases (each in its own fresh Python process; the fit call timed from the user's call to the fitted
estimator, compilation included):

* ``gfa``: ``rgf.GFA(n_factors=5, method="svi")`` on ``rgf.simulate.multiview()`` (200 subjects; a
  negative binomial view of 200 features, Gaussian 100, Bernoulli 40; sites).
* ``svc``: ``rgf.SVC("poisson", method="svi")`` on 300 units along one coordinate (the test suite's design).
* ``regions``: ``rgf.GFA(n_factors=2, factor_prior="gp")`` (SVI: the multi-region model's default) on
  ``rgf.simulate.regions`` (60 subjects x 4 regions, two factors).
* ``mediation-nuts``: ``rgf.Mediation`` by NUTS (its default; one chain of 300 warmup + 500 draws) on
  ``rgf.simulate.mediation(200)``, the calibration design; the second fit is on another replicate
  (``random_state=1``), as in a calibration study or a bootstrap.
* ``gfa-nuts``: ``rgf.GFA(n_factors=2, method="nuts")`` (2 chains of 300 + 300) on
  ``rgf.simulate.multiview(n_subjects=60)`` with two small views (Gaussian 20, Bernoulli 12).
* ``svc-nuts``: the ``svc`` design by NUTS (2 chains of 300 + 300).

Per case: the first fit (seed 0) and a second fit of the same model and shapes (seed 1), end to end.

    python benchmarks/first_fit.py [--cases gfa svc regions mediation-nuts gfa-nuts svc-nuts] [--label NAME]

Appends to benchmarks/results/first_fit.md (one row per case and label; ``--label`` says which code,
e.g. a commit). The children import the installed rgfactor, or another checkout's with
``PYTHONPATH=/path/to/checkout``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

CASES = ("gfa", "svc", "regions", "mediation-nuts", "gfa-nuts", "svc-nuts")


def make_fit(case: str):
    """``fit(seed)`` for one case of the module docstring (also read by benchmarks/compile_log.py)."""
    import numpy as np
    import pandas as pd

    import rgfactor as rgf

    if case == "gfa":
        data, _ = rgf.simulate.multiview(random_state=0)
        return lambda seed: rgf.GFA(n_factors=5, method="svi", random_state=seed).fit(data)
    if case == "mediation-nuts":
        def fit(seed):
            data, clin, _ = rgf.simulate.mediation(200, random_state=seed)
            return rgf.Mediation(mediators=["mediators"], num_warmup=300, num_draws=500, num_chains=1,
                                 random_state=seed).fit(data, exposure=clin["exposure"], outcome=clin["y"])
        return fit
    if case == "gfa-nuts":
        data, _ = rgf.simulate.multiview(n_subjects=60, n_factors=2,
                                         views={"g": ("gaussian", 20), "b": ("bernoulli", 12)}, random_state=0)
        return lambda seed: rgf.GFA(n_factors=2, method="nuts", num_warmup=300, num_draws=300,
                                    random_state=seed).fit(data)
    if case in ("svc", "svc-nuts"):
        rng = np.random.default_rng(2)
        n = 300
        s = np.sort(rng.uniform(0.0, 10.0, n))
        x = rng.standard_normal(n)
        y = rng.poisson(np.exp(1.0 + (0.3 + 0.4 * np.sin(s / 2.0)) * x)).astype(float)
        units = [f"u{i}" for i in range(n)]
        args = (pd.Series(y, index=units), pd.DataFrame({"x": x}, index=units),
                pd.DataFrame({"depth": s}, index=units))
        kw = ({"method": "svi", "max_iter": 6000} if case == "svc"
              else {"method": "nuts", "num_warmup": 300, "num_draws": 300})
        return lambda seed: rgf.SVC("poisson", random_state=seed, **kw).fit(*args)
    if case == "regions":
        data, _ = rgf.simulate.regions(n_subjects=60, n_regions=4, random_state=0)
        return lambda seed: rgf.GFA(n_factors=2, factor_prior="gp", random_state=seed).fit(data)
    raise SystemExit(f"unknown case '{case}'; choose from {CASES}")


# the child process: this file's make_fit, the rgfactor installed (or PYTHONPATH's)
CHILD = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[2])
from first_fit import make_fit
fit = make_fit(sys.argv[1])
out = {}
for label, seed in (("first fit", 0), ("second fit", 1)):
    t = time.perf_counter(); m = fit(seed); out[label] = time.perf_counter() - t
print(json.dumps(out))
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--label", default="this checkout")
    args = ap.parse_args(argv)
    rows = []
    for case in args.cases:
        load = os.getloadavg()[0]
        # run outside the repository so that the rgfactor imported is the installed one or PYTHONPATH's
        res = subprocess.run([sys.executable, "-c", CHILD, case, str(HERE)], capture_output=True, text=True,
                             check=True, cwd=tempfile.gettempdir())
        times = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(f"| {args.label} | {case} | {times['first fit']:.1f} | {times['second fit']:.1f} | {load:.1f} |")
        print(rows[-1], flush=True)
    path = RESULTS / "first_fit.md"
    if not path.exists():
        path.write_text("# SVI and NUTS fits end to end: the first in a fresh process, the next in the same process\n\n"
                        "`python benchmarks/first_fit.py --label ...` (cases in the script's docstring; "
                        f"x86_64, {os.cpu_count()} CPUs; seconds from the fit call to the fitted estimator).\n\n"
                        "| code | case | first fit (s) | second fit (s) | load average at start |\n|---|---|---|---|---|\n")
    with path.open("a") as f:
        f.write("\n".join(rows) + "\n")
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
