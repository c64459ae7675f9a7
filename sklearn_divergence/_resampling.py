"""Divergences between models refitted on resampled data, run in parallel.

The permutation test and the bootstrap both repeat one step many times: draw
new data sets from the ones given, refit the model configuration on each, and
estimate the divergences between the two fits. Each replicate draws its rows
from its own ``SeedSequence(entropy, spawn_key=(stream, index))`` and every
replicate uses the same Monte Carlo streams (common random numbers), so a
replicate's value depends only on the seed and its index: results are
bit-identical for any ``n_jobs`` and joblib backend.
"""

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.parallel import delayed

from ._config import run_tasks
from ._fitting import BOOTSTRAP_STREAM, PERMUTATION_STREAM, refit, single_threaded


def replicate_rng(entropy, stream, index):
    """The generator of replicate ``index`` of a resampling ``stream``."""
    return np.random.default_rng(
        np.random.SeedSequence(entropy, spawn_key=(stream, index))
    )


def split_rows(entropy, index, n_rows, n_p):
    """Random split ``index`` of ``n_rows`` pooled rows: n_p rows, and the rest."""
    order = replicate_rng(entropy, PERMUTATION_STREAM, index).permutation(n_rows)
    return order[:n_p], order[n_p:]


def _rows(X, index):
    """Rows of an array, or of a data frame (kept, for column-aware pipelines)."""
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def _refitted_divergences(templates, data, rows, request):
    """Refit each template on the given rows of its data; the divergences."""
    # A replicate's refit that stops at max_iter is still a fit close to its
    # optimum; hundreds of ConvergenceWarnings from the workers would bury
    # the warnings that matter.
    with single_threaded(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = [
            refit(template, _rows(X, index))
            for template, X, index in zip(templates, data, rows, strict=True)
        ]
        return request.between(*models)


def permuted_divergences(template, pooled, n_p, request, n_permutations, n_jobs):
    """Divergences between refits on random splits of ``pooled`` into n_p + rest rows.

    Returns one result dict per permutation, in order.
    """

    tasks = [
        delayed(_refitted_divergences)(
            (template, template),
            (pooled, pooled),
            split_rows(request.entropy, index, pooled.shape[0], n_p),
            request,
        )
        for index in range(n_permutations)
    ]
    return run_tasks(tasks, n_jobs, "Permutations", "refits")


def bootstrap_divergences(templates, data, request, n_bootstrap, n_jobs):
    """Divergences between refits on resamples (with replacement) of each data set.

    Returns one result dict per bootstrap replicate, in order.
    """

    def resample(index):
        rng = replicate_rng(request.entropy, BOOTSTRAP_STREAM, index)
        return tuple(rng.integers(0, len(X), size=len(X)) for X in data)

    tasks = [
        delayed(_refitted_divergences)(templates, data, resample(index), request)
        for index in range(n_bootstrap)
    ]
    return run_tasks(tasks, n_jobs, "Bootstrap", "refits")


def min_replicates(confidence_level):
    """The fewest replicates whose quantiles reach an interval's tails.

    With B replicates, the tail quantile of probability (1 - level) / 2 lies
    beyond the smallest replicate only when B >= 1 / tail - 1 (39 for 95%):
    with fewer, both ends are the extreme replicates, whatever the level.
    """
    tail = (1.0 - confidence_level) / 2.0
    return math.ceil(1.0 / tail - 1.0 - 1e-9)


def check_n_bootstrap(n_bootstrap, confidence_level):
    """Reject a positive ``n_bootstrap`` too small for ``confidence_level``."""
    needed = min_replicates(confidence_level)
    if 0 < n_bootstrap < needed:
        raise ValueError(
            f"n_bootstrap={n_bootstrap} is too few replicates for "
            f"{confidence_level:.4g} intervals: their ends are the replicates' "
            f"{(1 - confidence_level) / 2:.4g} and {(1 + confidence_level) / 2:.4g} "
            f"quantiles, which need n_bootstrap >= {needed} (199 or more for "
            "stable ends); or n_bootstrap=0 for no intervals."
        )


def basic_interval(statistic, replicates, confidence_level, upper):
    """The bias-corrected estimate and the basic bootstrap interval, in [0, upper].

    The interval is (2 T - q_high, 2 T - q_low), with q the replicates'
    quantiles: the replicates' offsets from T mirror T's offsets from the
    truth, so the interval corrects the plug-in bias instead of inheriting
    it, as the percentile interval (q_low, q_high) does (Efron & Tibshirani,
    "An Introduction to the Bootstrap", 1993, ch. 13). The estimate that
    goes with it is 2 T - median, corrected by the same mirror, and so
    always inside the interval; T itself may lie above it when the bias is
    large. Returns ``(estimate, (low, high))``.
    """
    if not math.isfinite(statistic):
        return statistic, (statistic, statistic)
    tail = (1.0 - confidence_level) / 2.0
    q_low, median, q_high = np.quantile(replicates, [tail, 0.5, 1.0 - tail])
    with np.errstate(invalid="ignore"):  # an infinite replicate: low = -inf
        mirrored = 2.0 * statistic - np.array([q_high, median, q_low])
    low, estimate, high = (float(np.clip(value, 0.0, upper)) for value in mirrored)
    return estimate, (low, high)
