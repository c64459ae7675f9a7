"""Benchmark sklearn_divergence against the usual Monte Carlo snippet.

For a fixed suite of Gaussian mixture pairs this measures, against a
high-precision reference:

* the efficiency of ``kl_divergence`` and ``js_divergence`` (method="auto")
  relative to plain sampling with ``GaussianMixture.sample`` and
  ``score_samples``: (MSE_base * time_base) / (MSE_ours * time_ours), i.e. how
  many times less work ours needs for the same accuracy;
* the speed of the package's log-density against ``score_samples``;
* the peak memory of one call with 10**8 samples.

It writes the whole report, tables included, to benchmarks/README.md::

    python benchmarks/bench_montecarlo.py            # full run
    python benchmarks/bench_montecarlo.py --quick    # smoke run, about a minute
"""

import argparse
import copy
import datetime
import os
import platform
import shlex
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy
import sklearn
from scipy.linalg import cholesky, solve_triangular
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

import sklearn_divergence
from sklearn_divergence import js_divergence, kl_divergence
from sklearn_divergence._gaussian import GaussianMixtureParams


def _case(name, d, K_p, K_q, covariance_type, seed):
    return {
        "name": name,
        "d": d,
        "K_p": K_p,
        "K_q": K_q,
        "covariance_type": covariance_type,
        "seed": seed,
    }


# The suite: every covariance type, d in {1, 2, 5, 10, 20}, 1 to 10 components.
# Positional fields: name, d, K_p, K_q, covariance_type, seed.
CASES = [
    _case("d1-full", 1, 2, 3, "full", 101),
    _case("d1-spherical", 1, 5, 1, "spherical", 102),
    _case("d2-full-single", 2, 1, 1, "full", 103),
    _case("d2-diag", 2, 3, 2, "diag", 104),
    _case("d2-tied", 2, 10, 5, "tied", 105),
    _case("d5-spherical", 5, 2, 2, "spherical", 106),
    _case("d5-full", 5, 5, 3, "full", 107),
    _case("d5-diag", 5, 3, 10, "diag", 108),
    _case("d10-tied", 10, 3, 3, "tied", 109),
    _case("d10-full", 10, 10, 10, "full", 110),
    _case("d20-full", 20, 3, 3, "full", 111),
    _case("d20-tied", 20, 2, 3, "tied", 112),
    _case("d20-diag", 20, 5, 2, "diag", 113),
    _case("d20-spherical", 20, 3, 5, "spherical", 114),
]
MEMORY_CASE = _case("memory-d10-full", 10, 3, 3, "full", 201)

N_SAMPLES = 100_000
REFERENCE_SEED = 12345
MEMORY_SAMPLES = 10**8
LOG_DENSITY_POINTS = 100_000
LOG_DENSITY_REPEATS = 7
# Our RMSE below this many reference standard errors cannot be resolved.
RESOLUTION_FACTOR = 3

TARGET_MIN_EFFICIENCY = 100
TARGET_MEDIAN_EFFICIENCY = 1000
TARGET_SPEEDUP = 2


@dataclass(frozen=True)
class Config:
    repeats: int
    reference_samples: int
    measure_memory: bool


FULL = Config(repeats=20, reference_samples=2**23, measure_memory=True)
QUICK = Config(repeats=3, reference_samples=2**18, measure_memory=False)


# ---------------------------------------------------------------- the suite


def _random_variances(rng, size):
    # Log-uniform in [1/2, 2]: unit-scale components that still differ.
    return np.exp(rng.uniform(-np.log(2.0), np.log(2.0), size))


def _random_covariance(rng, d):
    rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
    covariance = (rotation * _random_variances(rng, d)) @ rotation.T
    return 0.5 * (covariance + covariance.T)


def _precision_cholesky(covariance):
    # As scikit-learn stores it: upper-triangular U with U U^T = covariance^-1.
    lower = cholesky(covariance, lower=True)
    return solve_triangular(lower, np.eye(len(covariance)), lower=True).T


def make_mixture(rng, n_components, d, covariance_type):
    """A "fitted" GaussianMixture with random parameters, set without fitting."""
    weights = rng.dirichlet(np.full(n_components, 2.0))
    # Component means about 2 standard deviations apart in any dimension:
    # E|m_a - m_b|^2 = 2 d (2 / d) = 4.
    means = rng.normal(0.0, np.sqrt(2.0 / d), (n_components, d))
    if covariance_type == "full":
        covariances = np.stack(
            [_random_covariance(rng, d) for _ in range(n_components)]
        )
        precisions_cholesky = np.stack([_precision_cholesky(c) for c in covariances])
        precisions = precisions_cholesky @ precisions_cholesky.transpose(0, 2, 1)
    elif covariance_type == "tied":
        covariances = _random_covariance(rng, d)
        precisions_cholesky = _precision_cholesky(covariances)
        precisions = precisions_cholesky @ precisions_cholesky.T
    else:
        shape = (n_components, d) if covariance_type == "diag" else n_components
        covariances = _random_variances(rng, shape)
        precisions_cholesky = 1.0 / np.sqrt(covariances)
        precisions = 1.0 / covariances

    model = GaussianMixture(n_components, covariance_type=covariance_type)
    model.weights_ = weights
    model.means_ = means
    model.covariances_ = covariances
    model.precisions_cholesky_ = precisions_cholesky
    model.precisions_ = precisions
    model.converged_ = True
    model.n_iter_ = 0
    model.lower_bound_ = 0.0
    model.n_features_in_ = d
    return model


def make_pair(case):
    rng = np.random.default_rng(case["seed"])
    d, kind = case["d"], case["covariance_type"]
    return make_mixture(rng, case["K_p"], d, kind), make_mixture(
        rng, case["K_q"], d, kind
    )


# ------------------------------------------------------ the two estimators


def baseline_kl(p, q, n, seed):
    p = copy.copy(p)
    # Vary the seed per repetition, else sample() redraws the same points.
    p.random_state = seed
    X = p.sample(n)[0]
    return np.mean(p.score_samples(X) - q.score_samples(X))


def baseline_js(p, q, n, seed):
    # One stream for both draws, so the P and Q samples are independent.
    rng = np.random.RandomState(seed)
    p, q = copy.copy(p), copy.copy(q)
    p.random_state = q.random_state = rng
    X, Y = p.sample(n)[0], q.sample(n)[0]
    log_p_x, log_q_x = p.score_samples(X), q.score_samples(X)
    log_p_y, log_q_y = p.score_samples(Y), q.score_samples(Y)
    side_p = np.mean(np.log(2) + log_p_x - np.logaddexp(log_p_x, log_q_x))
    side_q = np.mean(np.log(2) + log_q_y - np.logaddexp(log_q_y, log_p_y))
    return (side_p + side_q) / 2


DIVERGENCES = {"kl": (kl_divergence, baseline_kl), "js": (js_divergence, baseline_js)}


# ---------------------------------------------------------------- measuring


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def compare(p, q, divergence, config):
    """Reference, then R runs of the baseline and of ours: one table row."""
    ours, baseline = DIVERGENCES[divergence]
    # The result does not depend on n_jobs, so the reference may use every core.
    reference, reference_se = ours(
        p,
        q,
        method="rqmc",
        n_samples=config.reference_samples,
        random_state=REFERENCE_SEED,
        n_jobs=-1,
        return_std=True,
    )
    seeds = range(config.repeats)
    # One untimed call each, so that lazy imports and caches are not timed.
    baseline(p, q, N_SAMPLES, config.repeats)
    ours(p, q, n_samples=N_SAMPLES, random_state=config.repeats, n_jobs=1)

    base_runs = [_timed(baseline, p, q, N_SAMPLES, seed) for seed in seeds]
    our_runs = [
        _timed(
            ours,
            p,
            q,
            method="auto",
            n_samples=N_SAMPLES,
            random_state=seed,
            n_jobs=1,
            return_std=True,
        )
        for seed in seeds
    ]
    base_values = np.array([value for value, _ in base_runs])
    our_values = np.array([value for (value, _), _ in our_runs])
    base_mse = np.mean((base_values - reference) ** 2)
    our_mse = np.mean((our_values - reference) ** 2)
    base_time = np.mean([seconds for _, seconds in base_runs])
    our_time = np.mean([seconds for _, seconds in our_runs])
    # Plain sampling is unbiased, so its mean checks the reference independently.
    bias_z = (base_values.mean() - reference) / (
        base_values.std(ddof=1) / np.sqrt(config.repeats)
    )
    return {
        "reference": reference,
        "reference_se": reference_se,
        "base_rmse": np.sqrt(base_mse),
        "base_time": base_time,
        "our_rmse": np.sqrt(our_mse),
        "our_se": np.mean([se for (_, se), _ in our_runs]),
        "our_time": our_time,
        "efficiency": (
            base_mse * base_time / (our_mse * our_time) if our_mse else np.inf
        ),
        "limited": np.sqrt(our_mse) < RESOLUTION_FACTOR * reference_se,
        "bias_z": bias_z,
    }


def log_density_speed(model):
    """Median times of score_samples and of our log_density at the same points."""
    sampler = copy.copy(model)
    sampler.random_state = 0
    X = sampler.sample(LOG_DENSITY_POINTS)[0]
    density = GaussianMixtureParams(
        model.weights_, model.means_, model.covariance_type, model.precisions_cholesky_
    )
    sklearn_time, our_time = (
        np.median([_timed(function, X)[1] for _ in range(LOG_DENSITY_REPEATS)])
        for function in (model.score_samples, density.log_density)
    )
    difference = np.max(np.abs(model.score_samples(X) - density.log_density(X)))
    return {
        "sklearn_time": sklearn_time,
        "our_time": our_time,
        "speedup": sklearn_time / our_time,
        "max_abs_diff": difference,
    }


def memory_run():
    """Peak memory traced during one 10**8-sample KL on one core."""
    p, q = make_pair(MEMORY_CASE)
    tracemalloc.start()
    # n_jobs=1 keeps every allocation in this process, where tracemalloc sees it.
    (value, se), seconds = _timed(
        kl_divergence,
        p,
        q,
        n_samples=MEMORY_SAMPLES,
        random_state=0,
        n_jobs=1,
        return_std=True,
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"value": value, "se": se, "seconds": seconds, "peak": peak}


# ---------------------------------------------------------------- reporting


def _verdict(passed):
    return "PASS" if passed else "MISS"


def _efficiency_table(cases, rows):
    lines = [
        "| case | d | K_p | K_q | cov type | reference ± se | baseline RMSE "
        "| baseline time (ms) | ours RMSE | ours mean SE | ours time (ms) "
        "| efficiency | baseline bias z |",
        "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for case, row in zip(cases, rows, strict=True):
        flag = "*" if row["limited"] else ""
        lines.append(
            f"| {case['name']} | {case['d']} | {case['K_p']} | {case['K_q']} "
            f"| {case['covariance_type']} "
            f"| {row['reference']:.6f} ± {row['reference_se']:.1e} "
            f"| {row['base_rmse']:.2e} | {1e3 * row['base_time']:.1f} "
            f"| {row['our_rmse']:.2e} | {row['our_se']:.2e} "
            f"| {1e3 * row['our_time']:.1f} | {row['efficiency']:.3g}{flag} "
            f"| {row['bias_z']:+.1f} |"
        )
    return lines


def _speed_table(cases, rows):
    lines = [
        "| case | d | K | cov type | score_samples (ms) | log_density (ms) "
        "| speedup | max abs diff |",
        "|---|--:|--:|---|--:|--:|--:|--:|",
    ]
    for case, row in zip(cases, rows, strict=True):
        lines.append(
            f"| {case['name']} | {case['d']} | {case['K_p']} "
            f"| {case['covariance_type']} | {1e3 * row['sklearn_time']:.2f} "
            f"| {1e3 * row['our_time']:.2f} | {row['speedup']:.2f} "
            f"| {row['max_abs_diff']:.1e} |"
        )
    return lines


def _summary(results, speed_rows):
    lines = []
    for divergence, rows in results.items():
        efficiencies = np.array([row["efficiency"] for row in rows])
        low, median = efficiencies.min(), np.median(efficiencies)
        n_limited = sum(row["limited"] for row in rows)
        # Where the reference limits the RMSE it says nothing about our SE.
        calibration = [
            row["our_rmse"] / row["our_se"] for row in rows if not row["limited"]
        ]
        spread = (
            f"from {min(calibration):.2f} to {max(calibration):.2f} over the "
            f"{len(calibration)} cases without `*`"
            if calibration
            else "not measurable, every case has `*`"
        )
        lines.append(
            f"- **{divergence.upper()}**: efficiency min {low:.3g}x "
            f"({_verdict(low >= TARGET_MIN_EFFICIENCY)}, target >= "
            f"{TARGET_MIN_EFFICIENCY}x in every case), median {median:.3g}x "
            f"({_verdict(median >= TARGET_MEDIAN_EFFICIENCY)}, target >= "
            f"{TARGET_MEDIAN_EFFICIENCY}x); {n_limited} of {len(rows)} values "
            f"are lower bounds (`*`); our RMSE / mean reported SE {spread}."
        )
    speedup = min(row["speedup"] for row in speed_rows)
    lines.append(
        f"- **log-density**: min speedup {speedup:.2f}x "
        f"({_verdict(speedup >= TARGET_SPEEDUP)}, target >= {TARGET_SPEEDUP}x)."
    )
    return lines


def render_report(config, quick, results, speed_rows, memory, elapsed):
    versions = ", ".join(
        f"{module.__name__} {module.__version__}"
        for module in (np, scipy, sklearn, sklearn_divergence)
    )
    lines = [
        "# Benchmarks",
        "",
        "Generated by `benchmarks/bench_montecarlo.py`; do not edit by hand.",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"total run time {elapsed:.0f} s",
        f"- machine: {os.cpu_count()} CPUs ({platform.machine()}, "
        f"{platform.system()}), Python {platform.python_version()}, {versions}",
    ]
    if quick:
        lines += [
            "",
            "**Smoke run (`--quick`)**: too few repetitions and too coarse a "
            "reference for the numbers to mean much.",
        ]
    lines += [
        "",
        "## Monte Carlo efficiency",
        "",
        f"Each case is a pair of Gaussian mixtures P, Q with random parameters "
        f"(fixed seeds). The reference is the package's RQMC estimate with "
        f"{config.reference_samples:,} samples per side. Baseline: the usual "
        f"snippet, `p.sample(n)` then the mean of "
        f"`p.score_samples(X) - q.score_samples(X)` (for JS, n points from each "
        f"of P and Q). Ours: `method='auto'`, `n_jobs=1`. Both use "
        f"n = {N_SAMPLES:,} points per sampled distribution and run "
        f"{config.repeats} times (seeds 0 to {config.repeats - 1}); times are "
        f"means per call, RMSE is against the reference. All timings run with "
        f"BLAS limited to one thread, so both sides use one core.",
        "",
        "efficiency = (MSE_base x time_base) / (MSE_ours x time_ours), the "
        "factor of work saved at equal accuracy. `*`: our RMSE is below "
        f"{RESOLUTION_FACTOR} reference standard errors, so the reference limits "
        "the measurement and the efficiency is a lower bound. baseline bias z: "
        "(mean of the baseline runs - reference) / its standard error, a t "
        f"statistic with {config.repeats - 1} degrees of freedom; plain sampling "
        "is unbiased, so a large |z| would mean a wrong reference.",
        "",
        "### KL(P‖Q), nats",
        "",
        *_efficiency_table(CASES, results["kl"]),
        "",
        "### JS(P, Q), nats",
        "",
        *_efficiency_table(CASES, results["js"]),
        "",
        "## Log-density speed",
        "",
        f"`GaussianMixture.score_samples` against the package's "
        f"`GaussianMixtureParams.log_density` on the {LOG_DENSITY_POINTS:,} "
        f"points drawn from P of each case; median of {LOG_DENSITY_REPEATS} "
        f"calls each.",
        "",
        *_speed_table(CASES, speed_rows),
        "",
        "## Memory",
        "",
    ]
    if memory is None:
        lines.append("Skipped (`--quick`).")
    else:
        d = MEMORY_CASE["d"]
        lines.append(
            f"`kl_divergence(p, q, n_samples={MEMORY_SAMPLES:_}, n_jobs=1)` on a "
            f"d = {d}, K = {MEMORY_CASE['K_p']} 'full' pair: "
            f"{memory['value']:.6f} ± {memory['se']:.1e} nats in "
            f"{memory['seconds']:.1f} s (under tracemalloc), peak memory "
            f"allocated during the call (Python and numpy, per tracemalloc) "
            f"{memory['peak'] / 2**20:.1f} MiB. Holding the samples alone would "
            f"take {MEMORY_SAMPLES * d * 8 / 2**30:.1f} GiB."
        )
    lines += ["", "## Summary", "", *_summary(results, speed_rows), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 3 repetitions, 2**18-sample reference, no memory run",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent / "README.md",
        help="where to write the markdown report (default: benchmarks/README.md)",
    )
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    start = time.perf_counter()

    results = {divergence: [] for divergence in DIVERGENCES}
    speed_rows = []
    # One BLAS thread: both sides are timed on one core, and multithreaded
    # BLAS on small matrices makes the timings erratic.
    with threadpool_limits(limits=1):
        for case in CASES:
            p, q = make_pair(case)
            for divergence, rows in results.items():
                rows.append(compare(p, q, divergence, config))
            speed_rows.append(log_density_speed(p))
            print(
                f"{case['name']}: efficiency "
                f"KL {results['kl'][-1]['efficiency']:.3g}, "
                f"JS {results['js'][-1]['efficiency']:.3g}, "
                f"speedup {speed_rows[-1]['speedup']:.2f}",
                flush=True,
            )
        memory = memory_run() if config.measure_memory else None

    report = render_report(
        config, args.quick, results, speed_rows, memory, time.perf_counter() - start
    )
    args.output.write_text(report, encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
