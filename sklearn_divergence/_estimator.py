"""GMMDivergence: every divergence between two densities, as a fitted estimator."""

import math
from typing import ClassVar, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.metadata_routing import UNUSED
from sklearn.utils.validation import check_is_fitted

from ._data_space import RELATIVE_FLOOR, learn_pair
from ._diagnostics import warn_if_degenerate
from ._fitting import fit_seed, refit, seeded
from ._models import as_density, check_density_estimator, check_same_features
from ._request import (
    DIVERGENCES,
    DivergenceRequest,
    check_density_for_method,
    divergences_in_nats,
    estimated,
    in_unit,
    validate_params,
)
from ._resampling import basic_interval, bootstrap_divergences, check_n_bootstrap
from ._selection import RAW_REG_COVAR, default_template
from ._validation import check_data, check_same_feature_names, is_estimator

_DIVERGENCES = {estimated(name) for name in DIVERGENCES}
# Set by a fit with n_bootstrap > 0 only.
_BOOTSTRAP_ATTRIBUTES = (
    "bootstrap_distribution_",
    *(f"{name}_{kind}_" for name in DIVERGENCES for kind in ("ci", "debiased")),
)
# What fit's P and Q may be: two samples, not features and a target.
_ACCEPTED = (
    "a fitted density estimator or data of shape (n_samples, n_features) (fit "
    "takes two data sets, not features and a target)"
)


class _DataShape(NamedTuple):
    """Stands in for the density of data not yet modelled."""

    n_features: int


class GMMDivergence(BaseEstimator):
    """KL and Jensen-Shannon divergences between two densities, as an estimator.

    ``fit(P, Q)`` takes two fitted density estimators, two data sets, or one of
    each. Data are modelled by a clone of ``estimator`` (by default a
    GaussianMixture chosen by BIC); fitted estimators are used as they are.
    Every divergence then comes from a single sampling pass per side: the
    points drawn from P give KL(P || Q) and half of JS, and the points drawn
    from Q give KL(Q || P) and the other half.

    Parameters
    ----------
    estimator : estimator object, default=None
        The density model cloned and fitted on data given to ``fit``: any
        estimator with ``fit``, ``sample`` and ``score_samples``, a
        ``Pipeline`` ending in one (affine, invertible transformers such as
        StandardScaler or PCA with all components; its input-space density is
        used), or a ``GridSearchCV`` over one (its ``best_estimator_`` is
        used), used as given, in the data's own coordinates. ``None``, with
        two data sets, models them in coordinates learned on their pooled
        rows (see ``dequantize`` and ``max_dimensions``, and
        ``data_space_``): features constant in both are dropped, the rest
        standardised, so that the variance floor (``reg_covar=1e-4``) is
        the same fraction of every feature's spread. In them, each data set
        gets a :class:`~sklearn.mixture.GaussianMixture` chosen by BIC on it:
        for each ``covariance_type`` ('full', 'tied', 'diag', 'spherical'),
        1, 2, ... components until BIC stops improving, on at most 8 192 of
        its rows, among configurations with at most a quarter as many free
        parameters as it has rows; fits whose components collapse onto a few
        rows or onto one value are skipped. Beside a fitted model, a data
        set is modelled the same way in its own coordinates.
    method : str, default='auto'
        How the divergences are computed, as in :func:`kl_divergence`: 'auto',
        'closed', 'mc', 'stratified', 'rqmc', or one of the deterministic
        approximations 'variational', 'variational_upper', 'product',
        'gaussian', 'unscented'. 'closed' and 'matched' do not apply to JS
        and are rejected; 'auto' uses the closed form for KL between single
        Gaussians and sampling for everything else.
    n_samples : int, default=100_000
        Points drawn from each of P and Q (at least 2).
    base : float, default=None
        Logarithm base of the results: None for nats, 2 for bits.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the Monte Carlo draws, the model fits and the bootstrap. An int
        gives the same result on every fit, for any ``n_jobs``. A given
        ``estimator`` keeps the ``random_state`` parameters it sets; unset
        ones are seeded from this one.
    n_jobs : int, default=None
        Jobs for the Monte Carlo chunks and the bootstrap
        replicates, through joblib. ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means all processors.
        Each model fit runs with one OpenMP and BLAS thread.
    n_bootstrap : int, default=0
        Bootstrap replicates for confidence intervals that include the
        fitting error (at least 0; 0 computes none). Each replicate resamples
        the rows of each data set with replacement, refits both models and
        re-estimates every divergence, so P and Q must both be data.
    confidence_level : float, default=0.95
        Confidence level of the bootstrap intervals, in (0, 1). It sets the
        fewest replicates: ``n_bootstrap`` must be 0 or at least
        ``1 / tail - 1``, with ``tail = (1 - confidence_level) / 2`` (39
        for 95%), so that the interval's ends are not simply the extreme
        replicates.
    dequantize : bool, default=True
        With the default model: add uniform noise over one grid step to
        features whose values lie on a grid (integers, counts, pixels,
        ratings), drawn once per row. The divergences are then those
        between the dequantised distributions, which equal the divergences
        between the discrete distributions; without it, a feature constant
        in one data set gets the floor variance and pins JS near log 2.
    max_dimensions : 'auto', int or None, default='auto'
        With the default model: the most coordinates to fit in. With more
        features, the standardised data are projected on the leading
        principal components of the pooled rows (whitened), and the
        divergences are those between the projected distributions, lower
        bounds on the divergences in all features (data-processing
        inequality). 'auto' allows as many as one full-covariance Gaussian
        fits with four rows per free parameter of the smaller data set
        (5 for 90 rows, 8 for 180, 14 for 500); None never projects.

    Attributes
    ----------
    kl_ : float
        KL(P || Q), clipped at 0; ``inf`` if Q has zero density where P drew a
        point.
    kl_reverse_ : float
        KL(Q || P).
    js_ : float
        The Jensen-Shannon divergence, in [0, log 2] nats ([0, 1] bit).
    js_distance_ : float
        ``sqrt(js_)``, a metric.
    kl_std_error_, kl_reverse_std_error_, js_std_error_ : float
        Monte Carlo standard errors, in the same unit; 0.0 for the closed
        form and the deterministic approximations. They cover only the
        sampling of the fitted models, not the error of fitting them to
        data, which is usually 100 to 1000 times larger: use the bootstrap
        intervals below, or :func:`divergence_test`, for that.
    js_distance_std_error_ : float
        The delta-method standard error of ``js_distance_``, as in
        :func:`js_distance`.
    kl_ci_, kl_reverse_ci_, js_ci_, js_distance_ci_ : tuple of float
        Only when ``n_bootstrap > 0``: (low, high) basic bootstrap confidence
        intervals at ``confidence_level``, which cover the fitting error and
        correct the plug-in bias; clipped to the valid range.
        ``js_distance_ci_`` is the square root of ``js_ci_``. They cover the
        divergence between the best-fitting models of the family in
        ``data_space_``'s coordinates; when the data are not a Gaussian
        mixture, that can differ from the divergence between the true
        distributions (``benchmarks/uncertainty.md``).
    kl_debiased_, kl_reverse_debiased_, js_debiased_, js_distance_debiased_ : float
        Only when ``n_bootstrap > 0``: the bias-corrected estimates that go
        with the intervals, ``2 T - median(replicates)``, clipped like them.
        They always lie inside their interval; the plug-in ``js_`` may lie
        above it when its fitting bias is large.
    bootstrap_distribution_ : dict of ndarray of shape (n_bootstrap,)
        Only when ``n_bootstrap > 0``: the replicates of 'kl', 'kl_reverse',
        'js' and 'js_distance'.
    estimator_p_, estimator_q_ : estimator object
        The density models of P and Q: the estimators passed to ``fit``
        (the same objects, never modified), or the models fitted on the data,
        in ``data_space_``'s coordinates when it is not None.
    data_space_ : DataSpace or None
        With the default model and two data sets, the coordinates learned on
        their pooled rows, in which the models were fitted and every
        divergence measured: ``n_dimensions``, ``projected`` (the
        divergences are then lower bounds), the ``dropped`` constant
        features and the ``dequantized`` ones, and ``transform(X)``. None
        otherwise.
    n_features_in_ : int
        Number of features of P and Q.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when P or Q is a data frame with string column
        names or a model fitted on one. When both carry names they must be
        the same, in the same order.

    See Also
    --------
    divergence_test : Whether the divergence between two data sets is real.
    kl_divergence, js_divergence, js_distance : The same quantities, one at a
        time.
    make_divergence_scorer : A scorer for model selection.

    Notes
    -----
    Compared with calling :func:`kl_divergence` twice and
    :func:`js_divergence` once, fitting costs one sampling pass per side
    instead of four, and all four values come from the same points. Between
    mixtures that each share one covariance (``'tied'``, one component),
    :func:`kl_divergence` samples KL alone, in the few dimensions that tell
    the components apart, to a smaller standard error; the KL here comes
    from the points that JS needs, so the two values differ within their
    standard errors.

    The divergence between models fitted to data is biased upwards, roughly
    by (free parameters) / (rows): two samples of one distribution do not
    give 0. The bootstrap intervals are basic intervals,
    (2 T - q_high, 2 T - q_low) with q the replicates' quantiles (Efron &
    Tibshirani, 1993, ch. 13), which reflect the bias back: percentile
    intervals, (q_low, q_high), are shifted by it and rarely cover the truth.
    Replicates refit the configuration chosen on the data (for
    ``estimator=None``, starting EM from the fit on the full data set) and
    reuse the Monte Carlo streams of the estimate. ``benchmarks/uncertainty.md``
    reports their measured coverage. A model that cannot support a divergence
    (constant features, more parameters than rows) raises a
    :class:`DegenerateFitWarning`.

    ``fit(P, Q)`` takes two samples, not features and targets, so the
    estimator does not fit into a supervised ``Pipeline`` step; use
    :func:`make_divergence_scorer` for model selection.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_divergence import GMMDivergence
    >>> rng = np.random.default_rng(0)
    >>> before = rng.normal(0.0, 1.0, size=(500, 2))
    >>> after = rng.normal(0.5, 1.0, size=(500, 2))
    >>> divergence = GMMDivergence(random_state=0).fit(before, after)
    >>> best = divergence.estimator_p_  # chosen by BIC
    >>> best.n_components, best.covariance_type
    (1, 'spherical')
    >>> print(f"KL = {divergence.kl_:.3f} ± {divergence.kl_std_error_:.0e} nats")
    KL = 0.285 ± 0e+00 nats
    >>> print(f"JS = {divergence.js_:.4f} ± {divergence.js_std_error_:.0e} nats")
    JS = 0.0693 ± 2e-06 nats

    The standard errors above are only the Monte Carlo error. An interval
    that covers the fitting error too comes from the bootstrap:

    >>> divergence = GMMDivergence(
    ...     n_samples=4096, n_bootstrap=99, random_state=0
    ... ).fit(before, after)
    >>> low, high = divergence.js_ci_
    >>> print(f"JS = {divergence.js_:.3f} nats, 95% interval ({low:.3f}, {high:.3f})")
    JS = 0.069 nats, 95% interval (0.046, 0.087)
    """

    # fit's P and Q are the data, not metadata: no set_fit_request.
    __metadata_request__fit: ClassVar[dict] = {"P": UNUSED, "Q": UNUSED}

    def __init__(
        self,
        estimator=None,
        *,
        method="auto",
        n_samples=100_000,
        base=None,
        random_state=None,
        n_jobs=None,
        n_bootstrap=0,
        confidence_level=0.95,
        dequantize=True,
        max_dimensions="auto",
    ):
        self.estimator = estimator
        self.method = method
        self.n_samples = n_samples
        self.base = base
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.n_bootstrap = n_bootstrap
        self.confidence_level = confidence_level
        self.dequantize = dequantize
        self.max_dimensions = max_dimensions

    def fit(self, P, Q):
        """Model P and Q if needed, then estimate every divergence.

        Parameters
        ----------
        P, Q : fitted density estimator or array-like of shape (n_samples, \
n_features)
            A fitted estimator (GaussianMixture, BayesianGaussianMixture,
            KernelDensity, a fitted Pipeline or search over one, or any
            estimator with ``sample`` and ``score_samples``) is used as it is.
            Data are modelled by a clone of ``estimator``; with
            ``n_bootstrap > 0`` both must be data.

        Returns
        -------
        self : GMMDivergence
            The fitted instance.
        """
        params = self.get_params(deep=False)
        del params["estimator"]  # checked against the data below
        valid = validate_params(params, divergences=_DIVERGENCES)
        method, n_samples, n_jobs = valid.method, valid.n_samples, valid.n_jobs
        unit, entropy, n_bootstrap = valid.base, valid.random_state, valid.n_bootstrap
        # Fitted models are validated, and data checked, before any model is
        # fitted: bad input fails fast.
        names, inputs = ("P", "Q"), (P, Q)
        densities, data = [], {}
        for name, obj in zip(names, inputs, strict=True):
            if is_estimator(obj):
                density = as_density(obj, name, needs_sampling=True)
                check_density_for_method(method, density, name, n_samples, sampled=True)
            else:
                data[name] = check_data(obj, name, _ACCEPTED)
                density = _DataShape(data[name].shape[1])
            densities.append(density)
        check_same_features(*densities, names)
        feature_names = check_same_feature_names(P, Q, names)
        check_density_estimator(
            self.estimator, min((X.shape[0] for X in data.values()), default=None)
        )
        if n_bootstrap and len(data) < 2:
            fitted = [name for name in names if name not in data]
            what = "is a fitted model" if len(fitted) == 1 else "are fitted models"
            raise ValueError(
                f"n_bootstrap={n_bootstrap} resamples the data of P and Q and "
                f"refits their models, but {' and '.join(fitted)} {what}. Pass "
                "the data for both, or n_bootstrap=0."
            )
        check_n_bootstrap(n_bootstrap, valid.confidence_level)
        templates, training = self._templates(data, inputs, valid, feature_names)
        models = list(inputs)
        for index, name in enumerate(names):
            if name in data:
                models[index] = refit(templates[index], training[index])
                densities[index] = as_density(models[index], name, needs_sampling=True)
            rows = data[name].shape[0] if name in data else None
            warn_if_degenerate(models[index], name, rows)
        results = divergences_in_nats(
            *densities, _DIVERGENCES, method, n_samples, entropy, n_jobs, names
        )
        self.estimator_p_, self.estimator_q_ = models
        self.n_features_in_ = (
            self.data_space_.n_features_in
            if self.data_space_ is not None
            else densities[0].n_features
        )
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_  # from an earlier fit on a data frame
        for name in DIVERGENCES:
            value, std_error = in_unit(name, *results[estimated(name)], unit)
            setattr(self, f"{name}_", value)
            setattr(self, f"{name}_std_error_", std_error)
        # Every fit resets what an earlier one with other settings left.
        for name in _BOOTSTRAP_ATTRIBUTES:
            if hasattr(self, name):
                delattr(self, name)
        if n_bootstrap:
            request = DivergenceRequest(
                frozenset(_DIVERGENCES), method, n_samples, entropy
            )
            replicates = bootstrap_divergences(
                templates, training, request, n_bootstrap, n_jobs
            )
            self._set_intervals(replicates, unit)
        return self

    def _templates(self, data, inputs, valid, feature_names):
        """The configurations that model the data sets, and the data they fit.

        Sets ``data_space_``: the pooled coordinates when the default model
        meets two data sets, else None.
        """
        entropy = valid.random_state
        self.data_space_ = None
        if self.estimator is not None:
            # The inputs as given, so that data frames keep their column names.
            return [
                seeded(self.estimator, fit_seed(entropy, index)) for index in (0, 1)
            ], list(inputs)
        if len(data) == 2:
            self.data_space_, training = learn_pair(
                data["P"],
                data["Q"],
                entropy=entropy,
                dequantize=valid.dequantize,
                max_dimensions=valid.max_dimensions,
                names=feature_names,
            )
            reg_covar = RELATIVE_FLOOR
        else:
            # One data set beside a fitted model: it is modelled in the
            # model's coordinates, the ones given.
            training = [data.get(name) for name in ("P", "Q")]
            reg_covar = RAW_REG_COVAR
        # Each data set gets the configuration that suits it best: one chosen
        # on both would model neither well where they differ (measured: 0.3
        # coverage instead of 1.0 at d = 5, n = 500, JS = 0.2).
        templates = [
            None
            if X is None
            else default_template(
                X, random_state=fit_seed(entropy, index), reg_covar=reg_covar
            )
            for index, X in enumerate(training)
        ]
        return templates, list(training)

    def _set_intervals(self, replicates, unit):
        """Bootstrap distributions, basic intervals and bias-corrected estimates."""
        self.bootstrap_distribution_ = {
            name: np.array(
                [
                    in_unit(name, *result[estimated(name)], unit)[0]
                    for result in replicates
                ]
            )
            for name in DIVERGENCES
        }
        upper = {"kl": math.inf, "kl_reverse": math.inf, "js": math.log(2) / unit}
        for name in upper:
            estimate, interval = basic_interval(
                getattr(self, f"{name}_"),
                self.bootstrap_distribution_[name],
                self.confidence_level,
                upper[name],
            )
            setattr(self, f"{name}_debiased_", estimate)
            setattr(self, f"{name}_ci_", interval)
        self.js_distance_debiased_ = math.sqrt(self.js_debiased_)
        self.js_distance_ci_ = tuple(math.sqrt(bound) for bound in self.js_ci_)

    def summary(self):
        """The fitted divergences with their standard errors.

        Returns
        -------
        summary : dict
            Maps 'kl', 'kl_reverse', 'js' and 'js_distance' to
            (value, standard error) pairs, in the unit set by ``base``.
        """
        check_is_fitted(self)
        return {
            "kl": (self.kl_, self.kl_std_error_),
            "kl_reverse": (self.kl_reverse_, self.kl_reverse_std_error_),
            "js": (self.js_, self.js_std_error_),
            "js_distance": (self.js_distance_, self.js_distance_std_error_),
        }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # fit(P, Q): the second argument is required, like a target.
        tags.target_tags.required = True
        return tags
