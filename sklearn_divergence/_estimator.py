"""GMMDivergence: every divergence between two densities, as a fitted estimator."""

import math
from typing import ClassVar, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.metadata_routing import UNUSED
from sklearn.utils.validation import check_is_fitted

from ._diagnostics import warn_if_degenerate
from ._fitting import fit_seed, refit, seeded, warm_started
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
from ._resampling import basic_interval, bootstrap_divergences
from ._selection import fit_by_bic
from ._validation import check_data, check_same_feature_names, is_estimator

_DIVERGENCES = {estimated(name) for name in DIVERGENCES}
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
        used). ``None`` fits, for each data set, a
        :class:`~sklearn.mixture.GaussianMixture` for every ``n_components``
        from 1 to 10 and every ``covariance_type`` ('full', 'tied', 'diag',
        'spherical'), and keeps the one with the lowest BIC (up to 40 fits,
        run in parallel with ``n_jobs``). Configurations the data cannot
        support are skipped, since on small samples their collapsed variances
        would win BIC: those with as many free parameters as rows, those that
        leave a component fewer than 2 rows (d + 1 for 'full'), and those
        with a variance at the ``reg_covar`` floor in a feature that varies
        in the data.
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
        Jobs for the Monte Carlo chunks, the BIC grid and the bootstrap
        replicates, through joblib. ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means all processors.
        Each model fit runs with one OpenMP and BLAS thread.
    n_bootstrap : int, default=0
        Bootstrap replicates for confidence intervals that include the
        fitting error (at least 0; 0 computes none). Each replicate resamples
        the rows of each data set with replacement, refits both models and
        re-estimates every divergence, so P and Q must both be data.
    confidence_level : float, default=0.95
        Confidence level of the bootstrap intervals, in (0, 1).

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
        ``js_distance_ci_`` is the square root of ``js_ci_``.
    bootstrap_distribution_ : dict of ndarray of shape (n_bootstrap,)
        Only when ``n_bootstrap > 0``: the replicates of 'kl', 'kl_reverse',
        'js' and 'js_distance'.
    estimator_p_, estimator_q_ : estimator object
        The density models of P and Q: the estimators passed to ``fit``
        (the same objects, never modified), or the models fitted on the data.
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
    KL = 0.289 ± 0e+00 nats
    >>> print(f"JS = {divergence.js_:.4f} ± {divergence.js_std_error_:.0e} nats")
    JS = 0.0702 ± 2e-06 nats

    The standard errors above are only the Monte Carlo error. An interval
    that covers the fitting error too comes from the bootstrap:

    >>> divergence = GMMDivergence(
    ...     n_samples=4096, n_bootstrap=99, random_state=0
    ... ).fit(before, after)
    >>> low, high = divergence.js_ci_
    >>> print(f"JS = {divergence.js_:.3f} nats, 95% interval ({low:.3f}, {high:.3f})")
    JS = 0.070 nats, 95% interval (0.046, 0.088)
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
    ):
        self.estimator = estimator
        self.method = method
        self.n_samples = n_samples
        self.base = base
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.n_bootstrap = n_bootstrap
        self.confidence_level = confidence_level

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
        models, templates, training = list(inputs), [None, None], [None, None]
        for index, name in enumerate(names):
            if name in data:
                templates[index], models[index], training[index] = self._fit_model(
                    inputs[index], data[name], entropy, index
                )
                densities[index] = as_density(models[index], name, needs_sampling=True)
            rows = data[name].shape[0] if name in data else None
            warn_if_degenerate(models[index], name, rows)
        density_p, density_q = densities
        results = divergences_in_nats(
            density_p,
            density_q,
            _DIVERGENCES,
            method,
            n_samples,
            entropy,
            n_jobs,
            names,
        )
        self.estimator_p_, self.estimator_q_ = models
        self.n_features_in_ = density_p.n_features
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_  # from an earlier fit on a data frame
        for name in DIVERGENCES:
            value, std_error = in_unit(name, *results[estimated(name)], unit)
            setattr(self, f"{name}_", value)
            setattr(self, f"{name}_std_error_", std_error)
        if n_bootstrap:
            request = DivergenceRequest(
                frozenset(_DIVERGENCES), method, n_samples, entropy
            )
            replicates = bootstrap_divergences(
                templates, training, request, n_bootstrap, n_jobs
            )
            self._set_intervals(replicates, unit)
        return self

    def _fit_model(self, original, X, entropy, index):
        """Model one data set: ``X`` is ``original`` validated as an array.

        Returns the configuration that refits it, the fitted model, and the
        data it was fitted on.
        """
        if self.estimator is None:
            selected = fit_by_bic(
                X, random_state=fit_seed(entropy, index), n_jobs=self.n_jobs
            )
            # Run the chosen fit's EM to convergence, as its bootstrap refits do.
            template = warm_started(selected, X.shape[0])
            return template, refit(template, X), X
        template = seeded(self.estimator, fit_seed(entropy, index))
        # The input as given, so that a data frame keeps its column names.
        return template, refit(template, original), original

    def _set_intervals(self, replicates, unit):
        """Bootstrap distributions and basic intervals from the replicates."""
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
            interval = basic_interval(
                getattr(self, f"{name}_"),
                self.bootstrap_distribution_[name],
                self.confidence_level,
                upper[name],
            )
            setattr(self, f"{name}_ci_", interval)
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
