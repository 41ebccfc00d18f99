"""Where an SVC fit of the 25 x 25 design of Fotheringham et al. (2017) spends its time (issue 11).

Builds the collapsed Gaussian program of replicate 0 with the default first-pass basis (6 x 6 per term), times
one value-and-gradient of its potential (wall and CPU, 200 calls), then runs NUTS (2 chains, target_accept
0.95) with each mass matrix named and reports leapfrog steps per transition, divergences, R-hat and ESS.

    python benchmarks/svc_profile.py WARMUP DRAWS [diag] [dense]     # e.g. 200 200 dense diag; 0 0: gradient only
"""

import sys
import time
import warnings

import arviz as az
import jax
import numpy as np
from numpyro.infer.util import initialize_model

from rgfactor.data.spatial import spatial_arrays
from rgfactor.generative.hsgp import prior_median_lengthscale
from rgfactor.inference.svc import fit_nuts
from rgfactor.simulate_svc import fotheringham2017
from rgfactor.svc import SVC


def main(argv) -> None:
    warnings.simplefilter("ignore")
    y, X, C, _ = fotheringham2017(0)
    arrays = spatial_arrays(y, X, C, likelihood="gaussian")
    model = SVC(target_accept=0.95)._build(arrays, prior_median_lengthscale((0.3, 3.0)))
    with jax.enable_x64(True):
        data = model.model_data(arrays)
        info = initialize_model(jax.random.PRNGKey(0), model.program(), model_args=(data,))
        grad = jax.jit(jax.value_and_grad(info.potential_fn))
        z = info.param_info.z
        jax.block_until_ready(grad(z))
        t0, c0, k = time.perf_counter(), time.process_time(), 200
        for _ in range(k):
            jax.block_until_ready(grad(z))
        print(f"columns {model.n_columns()}, sampled dims {sum(np.size(v) for v in z.values())}: one gradient "
              f"{(time.perf_counter() - t0) / k * 1e3:.2f} ms wall, {(time.process_time() - c0) / k * 1e3:.2f} ms CPU",
              flush=True)
    warmup, draws = int(argv[0]), int(argv[1])
    for mass in argv[2:]:
        t0, c0 = time.perf_counter(), time.process_time()
        run = fit_nuts(model.program(), data, num_warmup=warmup, num_samples=draws, num_chains=2, target_accept=0.95,
                       random_state=0, dense_mass=(mass == "dense"))
        steps = run.sample_stats["n_steps"]
        summ = az.summary(az.from_dict(posterior=run.draws), kind="diagnostics", round_to="none")
        print(f"{mass}: {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU for 2 x ({warmup} + "
              f"{draws}); leapfrog steps per transition mean {steps.mean():.0f}, max {steps.max()}; divergent "
              f"{run.diagnostics['n_divergent']}; max R-hat {summ['r_hat'].max():.4f} at {summ['r_hat'].idxmax()}; "
              f"min bulk ESS {summ['ess_bulk'].min():.0f} at {summ['ess_bulk'].idxmin()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["0", "0"])
