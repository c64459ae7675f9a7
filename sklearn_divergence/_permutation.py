"""divergence_test: is the divergence between two data sets real? A permutation test."""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._diagnostics import warn_if_degenerate
from ._fitting import fit_seed, refit, seeded, warm_started
from ._models import check_density_estimator
from ._request import DivergenceRequest, estimated, in_unit, validate_params
from ._resampling import permuted_divergences
from ._selection import fit_by_bic
from ._validation import check_data, check_same_feature_names, is_estimator

TEST_DIVERGENCES = ("js", "js_distance", "kl", "kl_reverse")
# Relative tolerance for ties between the statistic and the null distribution,
# as in scipy.stats.permutation_test.
_TIE_TOLERANCE = 100 * np.finfo(np.float64).eps


@dataclass(frozen=True, eq=False)
class DivergenceTestResult:
    """Result of :func:`divergence_test`, named as scipy's ``PermutationTestResult``.

    Attributes
    ----------
    statistic : float
        The divergence between the models fitted to ``X_p`` and ``X_q``, in
        the unit set by ``base``. It is biased upwards by the fitting error,
        roughly by (free parameters) / (rows).
    pvalue : float
        ``(1 + #{null_distribution >= statistic}) / (1 + n_permutations)``:
        the probability, if both data sets come from one distribution, of a
        divergence at least as large. Never 0 (Phipson & Smyth, 2010).
    null_distribution : ndarray of shape (n_permutations,)
        The statistic recomputed on random splits of the pooled data into
        parts of the original sizes.
    statistic_debiased : float
        ``statistic`` minus the mean of ``null_distribution``, the fitting
        bias that a divergence between two samples of one distribution shows.
        It is centred on 0 when there is no difference, so it can be negative.
        For ``divergence='js_distance'`` the correction is made on the JS
        divergence, then the square root taken (0 if negative).
    divergence : str
        Which divergence was tested.
    estimator_p, estimator_q : estimator object
        The models fitted to ``X_p`` and ``X_q`` that give ``statistic``.
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray
    statistic_debiased: float
    divergence: str
    estimator_p: object = field(repr=False)
    estimator_q: object = field(repr=False)


def _check_test_data(X_p, X_q):
    for name, X in (("X_p", X_p), ("X_q", X_q)):
        if is_estimator(X):
            raise TypeError(
                f"{name} is a {type(X).__name__}, but a two-sample test needs the "
                "data themselves: it refits the model on random splits of the "
                f"pooled rows. Pass the rows that {name}'s model was fitted on."
            )
    check_same_feature_names(X_p, X_q, ("X_p", "X_q"))
    X_p, X_q = check_data(X_p, "X_p"), check_data(X_q, "X_q")
    if X_p.shape[1] != X_q.shape[1]:
        raise ValueError(
            f"X_p and X_q must have the same number of features; X_p has "
            f"{X_p.shape[1]} and X_q has {X_q.shape[1]}."
        )
    return X_p, X_q


def _sorted_rows(X):
    """The rows of ``X`` in lexicographic order.

    The configuration is chosen on the pooled rows in this order, so that the
    choice depends only on the pooled data, not on which data set each row
    came from: otherwise the observed split would not be exchangeable with
    the permuted ones.
    """
    return X[np.lexsort(X.T[::-1])]


def _debiased(divergence, statistic, null):
    """The statistic minus the null mean (on the JS scale for the JS distance)."""
    if divergence == "js_distance":
        return math.sqrt(max(statistic**2 - float(np.mean(null**2)), 0.0))
    if not np.all(np.isfinite(null)):
        warnings.warn(
            "Some permuted divergences are infinite (a model gives zero density "
            "where the other draws points), so the fitting bias cannot be "
            "estimated: statistic_debiased is the statistic, uncorrected.",
            UserWarning,
            stacklevel=3,
        )
        return statistic
    return statistic - float(np.mean(null))


def divergence_test(
    X_p,
    X_q,
    *,
    divergence="js",
    estimator=None,
    n_permutations=199,
    method="auto",
    n_samples=20_000,
    base=None,
    random_state=None,
    n_jobs=None,
):
    """Permutation two-sample test: are two data sets from different distributions?

    Fits one model configuration to each data set and measures the
    divergence between the two fits. Two samples of one distribution also
    give a positive divergence, from the fitting error alone, so the test
    compares it with its null distribution: the same statistic recomputed on
    random splits of the pooled rows into parts of the original sizes, each
    part refitted with the same configuration. The p-value is the fraction of
    splits (counting the observed one) that give a divergence at least as
    large.

    Parameters
    ----------
    X_p, X_q : array-like of shape (n_samples_p, n_features) and \
(n_samples_q, n_features)
        The two data sets, at least 2 rows each; they are used as float64
        arrays. Fitted models are rejected: the test needs the data.
    divergence : {'js', 'js_distance', 'kl', 'kl_reverse'}, default='js'
        The statistic: the Jensen-Shannon divergence, its square root, KL(P
        || Q) or KL(Q || P), with P and Q the models of ``X_p`` and ``X_q``.
    estimator : estimator object, default=None
        The model configuration, refitted (as a clone) on every part: any
        density estimator with ``fit``, ``sample`` and ``score_samples``, or a
        Pipeline ending in one (its input-space density is used). ``None``
        chooses a :class:`~sklearn.mixture.GaussianMixture` once, by BIC over
        1 to 10 components and the four covariance types, on the pooled data,
        among the configurations that a part as small as the smaller data set
        supports (fewer free parameters than its rows, enough rows per
        component); every refit then starts EM from that pooled fit. Unset
        ``random_state`` parameters of a given estimator are set from
        ``random_state``, so that every refit makes the same random choices.
    n_permutations : int, default=199
        Random splits in the null distribution (at least 1). The smallest
        possible p-value is ``1 / (n_permutations + 1)``.
    method : str, default='auto'
        How each divergence is computed, as in :func:`kl_divergence`.
    n_samples : int, default=20_000
        Monte Carlo points per sampled model and per split. Their error only
        needs to be small compared with the spread of the null distribution.
    base : float, default=None
        Logarithm base of ``statistic``: None for nats, 2 for bits.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the splits, the model fits and the Monte Carlo draws. An int
        gives the same result on every call, for any ``n_jobs``.
    n_jobs : int, default=None
        Jobs for the BIC grid and the permutations, through joblib:
        ``None`` means 1 unless in a :func:`joblib.parallel_config` context
        (a dask backend spreads the permutations over a cluster), ``-1``
        means all processors. Each fit runs with one OpenMP and BLAS thread.

    Returns
    -------
    result : DivergenceTestResult
        With ``statistic``, ``pvalue``, ``null_distribution`` and
        ``statistic_debiased``, as described there.

    Warns
    -----
    DegenerateFitWarning
        When the models fitted to ``X_p`` or ``X_q`` cannot support a
        divergence (constant features, too many parameters for the rows).

    See Also
    --------
    GMMDivergence : The divergences with bootstrap confidence intervals.
    scipy.stats.permutation_test : The same test for a statistic of the data.

    Notes
    -----
    The test is exact: under the null hypothesis that the rows of both data
    sets are exchangeable (drawn independently from one distribution), the
    probability that ``pvalue <= alpha`` is at most ``alpha``, whatever the
    model and however biased the statistic (Phipson & Smyth, 2010). It holds
    because the observed split and every permuted one go through exactly the
    same procedure: the configuration is chosen on the pooled rows, sorted so
    that the choice cannot depend on the labels, and every split uses the
    same Monte Carlo streams. The Monte Carlo error is part of the statistic,
    and of its null distribution, so it cannot make the test anticonservative.

    The plug-in divergence between two fitted models is biased upwards: for
    two samples of one distribution its expectation is about
    (free parameters) / (rows), 0.33 nats of KL for a full-covariance
    Gaussian in 10 dimensions from 200 rows. ``statistic_debiased`` removes
    the bias measured by the null distribution; the benchmark in
    ``benchmarks/uncertainty.md`` reports its remaining bias.

    Cost: ``2 * (n_permutations + 1)`` model fits and ``n_permutations + 1``
    divergence estimates. With ``estimator=None``, up to 40 more fits on the
    pooled data choose the configuration; its refits start EM from that fit,
    which skips KMeans, and run it to convergence (a change in mean
    log-likelihood below 5e-3 / n, at most 1e-5, with n the smaller data
    set's rows). GaussianMixture's default tolerance, 1e-3, stopped such
    refits so close to their common start that JS came out up to half its
    plug-in bias too low.

    References
    ----------
    .. [1] B. Phipson and G. K. Smyth, "Permutation p-values should never be
       zero: calculating exact p-values when permutations are randomly
       drawn", Statistical Applications in Genetics and Molecular Biology,
       9(1), 2010.
    .. [2] P. Good, "Permutation, Parametric, and Bootstrap Tests of
       Hypotheses", 3rd ed., Springer, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_divergence import divergence_test
    >>> rng = np.random.default_rng(0)
    >>> X_p = rng.normal(0.0, 1.0, size=(300, 2))
    >>> same = rng.normal(0.0, 1.0, size=(300, 2))
    >>> shifted = rng.normal(0.3, 1.0, size=(300, 2))
    >>> options = dict(n_permutations=99, n_samples=4096, random_state=0)
    >>> result = divergence_test(X_p, same, **options)
    >>> print(f"JS = {result.statistic:.4f} nats, p = {result.pvalue:.2f}")
    JS = 0.0015 nats, p = 0.73
    >>> result = divergence_test(X_p, shifted, **options)
    >>> print(f"JS = {result.statistic:.4f} nats, p = {result.pvalue:.2f}")
    JS = 0.0307 nats, p = 0.01
    >>> print(f"debiased: {result.statistic_debiased:.4f} nats")
    debiased: 0.0281 nats
    """
    valid = validate_params(
        {
            "divergence": divergence,
            "n_permutations": n_permutations,
            "method": method,
            "n_samples": n_samples,
            "base": base,
            "random_state": random_state,
            "n_jobs": n_jobs,
        },
        choices={"divergence": TEST_DIVERGENCES},
    )
    X_p, X_q = _check_test_data(X_p, X_q)
    n_p, n_q = X_p.shape[0], X_q.shape[0]
    check_density_estimator(estimator, min(n_p, n_q))
    name, method, n_samples = estimated(divergence), valid.method, valid.n_samples
    unit, entropy, n_jobs = valid.base, valid.random_state, valid.n_jobs
    n_permutations = valid.n_permutations

    pooled = np.vstack([X_p, X_q])
    if estimator is None:
        selected = fit_by_bic(
            _sorted_rows(pooled),
            random_state=fit_seed(entropy, 0),
            n_jobs=n_jobs,
            n_rows=min(n_p, n_q),
        )
        template = warm_started(selected, min(n_p, n_q))
    else:
        template = seeded(estimator, fit_seed(entropy, 0))
    request = DivergenceRequest(frozenset({name}), method, n_samples, entropy)
    # The observed split first: it checks the method against the fitted
    # models and warns about them before the permutations start.
    model_p, model_q = refit(template, X_p), refit(template, X_q)
    warn_if_degenerate(model_p, "X_p", n_p)
    warn_if_degenerate(model_q, "X_q", n_q)
    observed = request.between(model_p, model_q, ("X_p's model", "X_q's model"))
    null = permuted_divergences(template, pooled, n_p, request, n_permutations, n_jobs)

    statistic = in_unit(divergence, *observed[name], unit)[0]
    null = np.array([in_unit(divergence, *result[name], unit)[0] for result in null])
    tolerance = _TIE_TOLERANCE * abs(statistic) if math.isfinite(statistic) else 0.0
    exceeding = np.count_nonzero(null >= statistic - tolerance)
    return DivergenceTestResult(
        statistic=statistic,
        pvalue=float(1 + exceeding) / (1 + n_permutations),
        null_distribution=null,
        statistic_debiased=_debiased(divergence, statistic, null),
        divergence=divergence,
        estimator_p=model_p,
        estimator_q=model_q,
    )
