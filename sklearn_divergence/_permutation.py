"""divergence_test: is the divergence between two data sets real? A permutation test."""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from ._data_space import learn_pair
from ._diagnostics import warn_if_degenerate
from ._fitting import fit_seed, refit, seeded
from ._models import check_density_estimator
from ._one_step import (
    OneStepModels,
    observed_split,
    permuted_view_statistics,
)
from ._request import DivergenceRequest, estimated, in_unit, validate_params
from ._resampling import permuted_divergences
from ._selection import pooled_template
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
        The divergence between the models of ``X_p`` and ``X_q``, in the
        unit set by ``base``: with the default model, the 'mixture' view's
        models, one EM step from the fit on the pooled rows; with an
        ``estimator``, its fits. It is biased upwards by the fitting error,
        roughly by (free parameters) / (rows).
    pvalue : float
        The probability, if both data sets come from one distribution, of a
        result at least as extreme. With an ``estimator``,
        ``(1 + #{null_distribution >= statistic}) / (1 + n_permutations)``;
        with the default model, the min-p combination of the views in
        ``pvalues_by_view``, calibrated on the same permutations. Never 0
        (Phipson & Smyth, 2010).
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
    data_space : DataSpace or None
        With the default model, the coordinates it was fitted in and the
        statistic measured in, learned on the pooled rows: its
        ``n_dimensions``, whether it is a projection (the statistic is then
        that between the projected distributions), the constant features
        dropped and the grid-valued features dequantised. None when an
        ``estimator`` was given.
    pvalues_by_view : dict
        Each view's own p-value, its share of splits (the observed one
        counted) with a divergence at least as large: with the default
        model 'mixture' (weights, means and covariances of each part),
        'location' (weights and means, the pooled covariances), 'gaussian'
        (one full-covariance Gaussian per part) and 'mean' (one Gaussian
        per part with the pooled covariance: only the means differ); with an
        ``estimator``, 'model' alone. Each is a valid p-value on its own;
        ``pvalue`` accounts for having looked at all of them.
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray
    statistic_debiased: float
    divergence: str
    estimator_p: object = field(repr=False)
    estimator_q: object = field(repr=False)
    data_space: object = None
    pvalues_by_view: dict = field(default_factory=dict)


def _check_test_data(X_p, X_q):
    for name, X in (("X_p", X_p), ("X_q", X_q)):
        if is_estimator(X):
            raise TypeError(
                f"{name} is a {type(X).__name__}, but a two-sample test needs the "
                "data themselves: it refits the model on random splits of the "
                f"pooled rows. Pass the rows that {name}'s model was fitted on."
            )
    names = check_same_feature_names(X_p, X_q, ("X_p", "X_q"))
    X_p, X_q = check_data(X_p, "X_p"), check_data(X_q, "X_q")
    if X_p.shape[1] != X_q.shape[1]:
        raise ValueError(
            f"X_p and X_q must have the same number of features; X_p has "
            f"{X_p.shape[1]} and X_q has {X_q.shape[1]}."
        )
    return X_p, X_q, names


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
    n_samples=4096,
    base=None,
    random_state=None,
    n_jobs=None,
    dequantize=True,
    max_dimensions="auto",
):
    """Permutation two-sample test: are two data sets from different distributions?

    Models each data set and measures the divergence between the two
    models. Two samples of one distribution also give a positive divergence,
    from the fitting error alone, so the test compares it with its null
    distribution: the same statistic recomputed on random splits of the
    pooled rows into parts of the original sizes, each part modelled the
    same way. The p-value is the fraction of splits (counting the observed
    one) that give a result at least as extreme.

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
        Pipeline ending in one (its input-space density is used), used as
        given in the data's own coordinates. Unset ``random_state``
        parameters of a given estimator are set from ``random_state``, so
        that every refit makes the same random choices. ``None`` learns
        coordinates on the pooled rows (``dequantize``, ``max_dimensions``;
        ``result.data_space``), chooses a
        :class:`~sklearn.mixture.GaussianMixture` configuration there as
        :class:`GMMDivergence` does, by BIC at the smaller data set's size,
        and fits it once to the pooled rows. Each part's models are then
        one EM step from that fit, in four views combined by min-p (see
        Notes).
    n_permutations : int, default=199
        Random splits in the null distribution (at least 1). The smallest
        possible p-value is ``1 / (n_permutations + 1)``.
    method : str, default='auto'
        How each divergence is computed, as in :func:`kl_divergence`.
    n_samples : int, default=4096
        Monte Carlo points per sampled model and per split. Their error only
        needs to be small compared with the spread of the null distribution:
        at 4096 randomised quasi-Monte Carlo points the standard error of JS
        was about 5e-7 nats between 4-component mixtures in 10 dimensions
        fitted to 100 000 rows per side, where the null distribution's
        spread is in ``benchmarks/realdata.md``.
    base : float, default=None
        Logarithm base of ``statistic``: None for nats, 2 for bits.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the splits, the model fits and the Monte Carlo draws. An int
        gives the same result on every call, for any ``n_jobs``.
    dequantize : bool, default=True
        With the default model, dequantise grid-valued features, as in
        :class:`GMMDivergence`.
    max_dimensions : 'auto', int or None, default='auto'
        With the default model, the most coordinates to test in, as in
        :class:`GMMDivergence`. With a projection, the test compares the
        projected distributions.
    n_jobs : int, default=None
        Jobs for the permutations, through joblib:
        ``None`` means 1 unless in a :func:`joblib.parallel_config` context
        (a dask backend spreads the permutations over a cluster), ``-1``
        means all processors. Each fit runs with one OpenMP and BLAS thread.

    Returns
    -------
    result : DivergenceTestResult
        With ``statistic``, ``pvalue``, ``null_distribution``,
        ``statistic_debiased``, ``data_space`` and ``pvalues_by_view``, as
        described there.

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

    With the default model, no single model sees every kind of difference:
    a spherical mixture in standardised coordinates is blind to a change of
    correlation, and re-estimating every covariance adds noise against a
    shift. The test therefore computes the divergence, for every split, in
    four views of the two parts, all one EM step from the pooled fit
    (the pooled fit's responsibilities, the parts' rows): 'mixture'
    (weights, means and covariances), 'location' (weights and means, with
    the pooled covariances), 'gaussian' (one full-covariance Gaussian per
    part) and 'mean' (one Gaussian per part with the pooled rows'
    covariance, a monotone function of the Mahalanobis distance between the
    parts' means, as in Hotelling's test). Each split's p-value in each view
    is its share of splits with a divergence at least as large, the combined
    statistic is the smallest of them, and ``pvalue`` is the share of splits
    whose combined statistic is at most the observed one: the min-p method
    of Westfall & Young [3]_, exact for the same reason. ``statistic`` and
    ``null_distribution`` are the 'mixture' view's.

    Cost: with ``estimator=None``, one configuration search on at most
    8 192 pooled rows, one fit to the pooled rows, and per split two
    responsibility-weighted sums and four divergence estimates. With an
    ``estimator``, ``2 * (n_permutations + 1)`` model fits and
    ``n_permutations + 1`` divergence estimates.

    References
    ----------
    .. [1] B. Phipson and G. K. Smyth, "Permutation p-values should never be
       zero: calculating exact p-values when permutations are randomly
       drawn", Statistical Applications in Genetics and Molecular Biology,
       9(1), 2010.
    .. [2] P. Good, "Permutation, Parametric, and Bootstrap Tests of
       Hypotheses", 3rd ed., Springer, 2005.
    .. [3] P. H. Westfall and S. S. Young, "Resampling-Based Multiple
       Testing", Wiley, 1993.

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
    JS = 0.0014 nats, p = 0.88
    >>> result = divergence_test(X_p, shifted, **options)
    >>> print(f"JS = {result.statistic:.4f} nats, p = {result.pvalue:.2f}")
    JS = 0.0291 nats, p = 0.01
    >>> print(f"debiased: {result.statistic_debiased:.4f} nats")
    debiased: 0.0265 nats
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
            "dequantize": dequantize,
            "max_dimensions": max_dimensions,
        },
        choices={"divergence": TEST_DIVERGENCES},
    )
    X_p, X_q, names = _check_test_data(X_p, X_q)
    n_p, n_q = X_p.shape[0], X_q.shape[0]
    check_density_estimator(estimator, min(n_p, n_q))
    name, method, n_samples = estimated(divergence), valid.method, valid.n_samples
    unit, entropy, n_jobs = valid.base, valid.random_state, valid.n_jobs
    n_permutations = valid.n_permutations

    request = DivergenceRequest(frozenset({name}), method, n_samples, entropy)
    if estimator is None:
        space, (X_p, X_q) = learn_pair(
            X_p,
            X_q,
            entropy=entropy,
            dequantize=valid.dequantize,
            max_dimensions=valid.max_dimensions,
            names=names,
        )
        pooled = np.vstack([X_p, X_q])
        # Any fit that does not see the labels keeps the test exact, so the
        # pooled fit stops at GaussianMixture's default tolerance.
        chosen = pooled_template(X_p, X_q, random_state=fit_seed(entropy, 0))
        chosen.set_params(tol=GaussianMixture().tol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models = OneStepModels(refit(chosen, pooled), pooled)
        # The observed split first: it warns about the models before the
        # permutations start.
        (model_p, model_q), observed = observed_split(models, n_p, request)
        _warn_if_degenerate(model_p, model_q, n_p, n_q)
        null = permuted_view_statistics(models, n_p, request, n_permutations, n_jobs)
    else:
        space, template = None, seeded(estimator, fit_seed(entropy, 0))
        model_p, model_q = refit(template, X_p), refit(template, X_q)
        _warn_if_degenerate(model_p, model_q, n_p, n_q)
        observed = {
            "model": request.between(
                model_p, model_q, ("X_p's model", "X_q's model"), warn=False
            )
        }
        null = [
            {"model": result}
            for result in permuted_divergences(
                template, np.vstack([X_p, X_q]), n_p, request, n_permutations, n_jobs
            )
        ]
    views = tuple(observed)
    # Row 0 of each view: the observed split; then the random ones.
    statistics = np.array(
        [
            [in_unit(divergence, *split[view][name], unit)[0] for view in views]
            for split in (observed, *null)
        ]
    ).T
    pvalue, view_pvalues = _min_p(statistics)
    main = statistics[0]
    return DivergenceTestResult(
        statistic=float(main[0]),
        pvalue=pvalue,
        null_distribution=main[1:],
        statistic_debiased=_debiased(divergence, float(main[0]), main[1:]),
        divergence=divergence,
        estimator_p=model_p,
        estimator_q=model_q,
        data_space=space,
        pvalues_by_view=dict(zip(views, view_pvalues, strict=True)),
    )


def _warn_if_degenerate(model_p, model_q, n_p, n_q):
    warn_if_degenerate(model_p, "X_p", n_p, stacklevel=4)
    warn_if_degenerate(model_q, "X_q", n_q, stacklevel=4)


def _split_pvalues(values):
    """Each split's p-value within one view: the share of splits at least as large."""
    tolerance = _TIE_TOLERANCE * np.abs(np.where(np.isfinite(values), values, 0.0))
    ordered = np.sort(values)
    smaller = np.searchsorted(ordered, values - tolerance, side="left")
    return (values.size - smaller) / values.size


def _min_p(statistics):
    """The min-p combination of views, and each view's own p-value.

    ``statistics`` has one row per view and one column per split, the
    observed first. Each split's p-value in each view is its share of
    splits at least as large (the observed one counted), and the combined
    statistic is the smallest over views; the combined p-value is the share
    of splits whose smallest p-value is at most the observed one. Every
    split goes through the same steps, so under exchangeability the
    combined p-value is exact too (Westfall & Young, 1993).
    """
    pvalues = np.array([_split_pvalues(row) for row in statistics])
    smallest = pvalues.min(axis=0)
    combined = np.count_nonzero(smallest <= smallest[0]) / smallest.size
    return float(combined), [float(p) for p in pvalues[:, 0]]
