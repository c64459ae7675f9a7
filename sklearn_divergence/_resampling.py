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

    def split(index):
        rng = replicate_rng(request.entropy, PERMUTATION_STREAM, index)
        order = rng.permutation(pooled.shape[0])
        return order[:n_p], order[n_p:]

    tasks = [
        delayed(_refitted_divergences)(
            (template, template), (pooled, pooled), split(index), request
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


def basic_interval(statistic, replicates, confidence_level, upper):
    """The basic bootstrap interval, clipped to [0, upper].

    (2 T - q_high, 2 T - q_low), with q the replicates' quantiles: the
    replicates' offsets from T mirror T's offsets from the truth, so the
    interval corrects the plug-in bias instead of inheriting it, as the
    percentile interval (q_low, q_high) does (Efron & Tibshirani, "An
    Introduction to the Bootstrap", 1993, ch. 13).
    """
    if not math.isfinite(statistic):
        return statistic, statistic
    tail = (1.0 - confidence_level) / 2.0
    q_low, q_high = np.quantile(replicates, [tail, 1.0 - tail])
    with np.errstate(invalid="ignore"):  # an infinite replicate: low = -inf
        low, high = 2.0 * statistic - q_high, 2.0 * statistic - q_low
    return float(np.clip(low, 0.0, upper)), float(np.clip(high, 0.0, upper))
