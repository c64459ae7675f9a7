"""GMMDivergence: every divergence between two densities, as a fitted estimator."""

from typing import ClassVar, NamedTuple

from sklearn.base import BaseEstimator, clone
from sklearn.utils.metadata_routing import UNUSED
from sklearn.utils.validation import check_is_fitted

from ._divergence import (
    METHODS,
    check_density_for_method,
    check_method_for,
    divergences_in_nats,
    in_unit,
)
from ._models import as_density, check_same_features
from ._selection import fit_by_bic, fit_seed
from ._validation import (
    check_data,
    check_method,
    check_n_jobs,
    check_n_samples,
    is_estimator,
    log_base,
    seed_entropy,
)

_DIVERGENCES = {"kl", "kl_reverse", "js"}


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
        'spherical'), and keeps the one with the lowest BIC (40 fits, run in
        parallel with ``n_jobs``). Fits that leave a component fewer than 2
        points (d + 1 for 'full') are skipped, since on small samples their
        collapsed variances would win BIC.
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
        Seeds the Monte Carlo draws and, when ``estimator=None``, the mixture
        fits. An int gives the same result on every fit, for any ``n_jobs``.
        A given ``estimator`` keeps its own ``random_state``.
    n_jobs : int, default=None
        Jobs for the Monte Carlo chunks and the BIC grid. ``None`` means 1
        unless in a :func:`joblib.parallel_config` context; ``-1`` means all
        processors.

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
        form and the deterministic approximations.
    js_distance_std_error_ : float
        The delta-method standard error of ``js_distance_``, as in
        :func:`js_distance`.
    estimator_p_, estimator_q_ : estimator object
        The density models of P and Q: the estimators passed to ``fit``
        (the same objects, never modified), or the models fitted on the data.
    n_features_in_ : int
        Number of features of P and Q.

    See Also
    --------
    kl_divergence, js_divergence, js_distance : The same values, one at a time.
    make_divergence_scorer : A scorer for model selection.

    Notes
    -----
    Compared with calling :func:`kl_divergence` twice and
    :func:`js_divergence` once, fitting costs one sampling pass per side
    instead of four, and all four values come from the same points.

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
    JS = 0.0702 ± 5e-06 nats
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
    ):
        self.estimator = estimator
        self.method = method
        self.n_samples = n_samples
        self.base = base
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, P, Q):
        """Model P and Q if needed, then estimate every divergence.

        Parameters
        ----------
        P, Q : fitted density estimator or array-like of shape (n_samples, \
n_features)
            A fitted estimator (GaussianMixture, BayesianGaussianMixture,
            KernelDensity, a fitted Pipeline or search over one, or any
            estimator with ``sample`` and ``score_samples``) is used as it is.
            Data are modelled by a clone of ``estimator``.

        Returns
        -------
        self : GMMDivergence
            The fitted instance.
        """
        method = check_method(self.method, METHODS)
        check_method_for(method, _DIVERGENCES)
        n_samples = check_n_samples(self.n_samples)
        unit = log_base(self.base)
        n_jobs = check_n_jobs(self.n_jobs)
        if self.estimator is not None and not hasattr(self.estimator, "fit"):
            raise ValueError(
                "estimator must be None or an estimator with a fit method, got "
                f"{type(self.estimator).__name__}."
            )
        entropy = seed_entropy(self.random_state)
        # Fitted models are validated, and data checked, before any model is
        # fitted: bad input fails fast.
        names, inputs = ("P", "Q"), (P, Q)
        densities, data = [], {}
        for name, obj in zip(names, inputs, strict=True):
            if is_estimator(obj):
                density = as_density(obj, name, needs_sampling=True)
                check_density_for_method(method, density, name, n_samples, sampled=True)
            else:
                data[name] = check_data(obj, name)
                density = _DataShape(data[name].shape[1])
            densities.append(density)
        check_same_features(*densities, names)
        models = list(inputs)
        for index, name in enumerate(names):
            if name in data:
                models[index] = self._fit_model(
                    inputs[index], data[name], entropy, index
                )
                densities[index] = as_density(models[index], name, needs_sampling=True)
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
        self.kl_, self.kl_std_error_ = in_unit("kl", *results["kl"], unit)
        self.kl_reverse_, self.kl_reverse_std_error_ = in_unit(
            "kl_reverse", *results["kl_reverse"], unit
        )
        self.js_, self.js_std_error_ = in_unit("js", *results["js"], unit)
        self.js_distance_, self.js_distance_std_error_ = in_unit(
            "js_distance", *results["js"], unit
        )
        return self

    def _fit_model(self, original, X, entropy, index):
        """Model one data set: ``X`` is ``original`` validated as an array."""
        if self.estimator is None:
            return fit_by_bic(
                X, random_state=fit_seed(entropy, index), n_jobs=self.n_jobs
            )
        # The input as given, so that a data frame keeps its column names.
        return clone(self.estimator).fit(original)

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
