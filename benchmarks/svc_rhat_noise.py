"""How often max R-hat exceeds 1.01 with chains that mix perfectly (issue 11, the 20,000-unit SVC fit at 1.0103).

Stationary AR(1) chains (rho = 0, 0.5, 0.7: ESS per draw ~1, 0.33, 0.18), 9 quantities (the SVC's
amplitudes, lengthscales, means, spatial sds and noise of a 2-term fit), rank-normalised split R-hat
(arviz, Vehtari et al. 2021), 400 repetitions per setting, seed 0.

    python benchmarks/svc_rhat_noise.py      # a few minutes; the table of benchmarks/results/svc_rhat_noise.md
"""

import arviz as az
import numpy as np


def max_rhat(rng, chains: int, draws: int, k: int, rho: float, reps: int = 400):
    """P(max over k quantities of R-hat > 1.01) and the median max R-hat."""
    out = []
    for _ in range(reps):
        e = rng.standard_normal((k, chains, draws))
        x = np.empty_like(e)
        x[..., 0] = e[..., 0]
        for t in range(1, draws):
            x[..., t] = rho * x[..., t - 1] + np.sqrt(1 - rho**2) * e[..., t]
        out.append(max(float(az.rhat(x[i])) for i in range(k)))
    out = np.array(out)
    return (out > 1.01).mean(), np.median(out)


def main() -> None:
    rng = np.random.default_rng(0)
    for rho in (0.0, 0.5, 0.7):
        for chains, draws in ((2, 500), (4, 500), (2, 1000)):
            p, med = max_rhat(rng, chains, draws, 9, rho)
            print(f"rho={rho} ess/draw~{(1 - rho) / (1 + rho):.2f} chains={chains} draws={draws}: "
                  f"P(max Rhat over 9 > 1.01)={p:.2f}, median max {med:.4f}", flush=True)


if __name__ == "__main__":
    main()
