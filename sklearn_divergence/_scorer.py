"""A scorer for model selection: minus the divergence to a reference density."""

from ._affine import affine_map, push_forward
from ._fitting import fit_seed
from ._gaussian import GaussianMixtureParams
from ._models import as_density, check_same_features, split_pipeline
from ._request import (
    check_density_for_method,
    divergences_in_nats,
    estimated,
    in_unit,
    validate_params,
)
from ._selection import fit_default
from ._validation import (
    check_data,
    check_names_match,
    feature_names,
    is_estimator,
    log_base,
)

_NAMES = ("the scored estimator", "reference")


class DivergenceScorer:
    """Callable ``(estimator, X, y=None) -> -divergence(estimator, reference)``.

    Made by :func:`make_divergence_scorer`, which documents it.
    """

    def __init__(
        self,
        divergence,
        method,
        n_samples,
        base,
        entropy,
        reference_density,
        reference_data=None,
        reference_names=None,
    ):
        self.divergence = divergence
        self.method = method
        self.n_samples = n_samples
        self.base = base
        self.entropy = entropy
        # The reference's density, and the data it was fitted on (None for a
        # fitted reference), to be modelled again after non-affine transformers.
        self.reference_density = reference_density
        self.reference_data = reference_data
        self.reference_names = reference_names

    def _densities(self, estimator):
        """The model's and the reference's densities, in the same space."""
        transformers, final = split_pipeline(estimator, _NAMES[0])
        needs_sampling = self.divergence != "kl_reverse"
        model = as_density(final, _NAMES[0], needs_sampling=needs_sampling)
        if transformers is None:
            return model, self.reference_density
        return model, self._reference_after(transformers)

    def _reference_after(self, transformers):
        """The reference's density in the space of a pipeline's transformers."""
        if isinstance(self.reference_density, GaussianMixtureParams):
            try:
                affine = affine_map(transformers, "the scored pipeline")
            except ValueError:
                if self.reference_data is None:
                    raise
            else:
                # Exact, and the same reference for every candidate.
                return push_forward(self.reference_density, affine, _NAMES[1])
        if self.reference_data is None:
            raise ValueError(
                "To score a pipeline against a fitted reference, the reference "
                "must be a Gaussian mixture (mapped through the pipeline's affine "
                "transformers); pass the reference data instead."
            )
        transformed = check_data(
            transformers.transform(self.reference_data), "transformed reference"
        )
        fitted = fit_default(transformed, random_state=fit_seed(self.entropy, 0))
        return as_density(fitted, _NAMES[1], needs_sampling=True)

    def __call__(self, estimator, X=None, y=None):
        """Minus the divergence between ``estimator`` and the reference.

        ``X`` and ``y`` are ignored: the score compares the fitted density
        with the reference, not with held-out data.
        """
        check_names_match(feature_names(estimator), self.reference_names, _NAMES)
        model, reference = self._densities(estimator)
        check_same_features(model, reference, _NAMES)
        name = estimated(self.divergence)
        value, std_error = divergences_in_nats(
            model,
            reference,
            {name},
            self.method,
            self.n_samples,
            self.entropy,
            None,
            _NAMES,
        )[name]
        return -in_unit(self.divergence, value, std_error, log_base(self.base))[0]

    def __repr__(self):
        return (
            f"make_divergence_scorer(<reference>, divergence={self.divergence!r}, "
            f"method={self.method!r}, n_samples={self.n_samples}, base={self.base})"
        )


def make_divergence_scorer(
    reference,
    *,
    divergence="js",
    method="auto",
    n_samples=20_000,
    base=None,
    random_state=0,
):
    """Make a scorer that ranks density models by their divergence to a reference.

    The scorer returns minus the divergence (greater is better) between the
    fitted estimator it is given and ``reference``, so it plugs into
    :class:`~sklearn.model_selection.GridSearchCV`,
    :class:`~sklearn.model_selection.RandomizedSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` and multi-metric scoring
    dicts, for example to choose ``n_components`` and ``covariance_type``.

    Parameters
    ----------
    reference : fitted density estimator or array-like of shape (n_samples, \
n_features)
        The target density: a fitted estimator accepted by
        :func:`kl_divergence`, or data, which are modelled (once, now) by a
        :class:`~sklearn.mixture.GaussianMixture` chosen by BIC as in
        :class:`GMMDivergence`.
    divergence : {'js', 'js_distance', 'kl', 'kl_reverse'}, default='js'
        - 'js': the Jensen-Shannon divergence, bounded by log 2;
        - 'js_distance': its square root;
        - 'kl': KL(model || reference), which punishes models that put mass
          where the reference has little;
        - 'kl_reverse': KL(reference || model), which punishes models that
          miss part of the reference (the expected log-likelihood gap).
    method : str, default='auto'
        As in :func:`kl_divergence`; 'closed' and 'matched' apply only to
        'kl' and 'kl_reverse'.
    n_samples : int, default=20_000
        Points drawn per sampled distribution and per call.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.
    random_state : int, RandomState instance, Generator or None, default=0
        Fixes the random streams once, when the scorer is made: every call,
        and so every candidate of a search, uses the same streams, which
        makes their scores comparable (common random numbers).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None)`` returns minus the divergence, a float.
        ``X`` and ``y`` are ignored. The scorer pickles, so it works with
        ``n_jobs`` in searches and cross-validation.

    See Also
    --------
    GMMDivergence : Every divergence between two densities at once.

    Notes
    -----
    When the scored estimator is a :class:`~sklearn.pipeline.Pipeline` whose
    last step is the density estimator, that density lives in the space of
    the pipeline's transformers, so the reference is brought there too:

    - when the transformers are affine (StandardScaler, MinMaxScaler
      without clipping, PCA, ...), the reference mixture (fitted, or modelled
      once from the reference data) is mapped exactly through them. This
      includes maps to fewer dimensions, such as PCA with fewer components:
      the divergence is then between the projected distributions, which by
      the data-processing inequality is at most the divergence in the input
      space;
    - otherwise the reference data pass through the pipeline's fitted
      transformers and are modelled there by a BIC-selected GaussianMixture,
      on every call (each candidate and fold has its own transformers; this
      costs up to 40 mixture fits per call). A fitted reference cannot be used
      with non-affine transformers: pass the reference data instead.

    Scores are comparable between candidates that model the same space.
    A search over the transformers themselves (for example over
    ``pca__n_components``) compares divergences in different spaces, and
    lower-dimensional projections score better by the data-processing
    inequality; search over the density estimator's parameters instead.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_divergence import make_divergence_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 1, (300, 2)), rng.normal(3, 1, (300, 2))])
    >>> reference = GaussianMixture(2, random_state=0).fit(X)
    >>> search = GridSearchCV(
    ...     GaussianMixture(random_state=0),
    ...     {"n_components": [1, 2, 3]},
    ...     scoring=make_divergence_scorer(reference, n_samples=4096),
    ... ).fit(X)
    >>> search.best_params_
    {'n_components': 2}
    """
    valid = validate_params(
        {
            "divergence": divergence,
            "method": method,
            "n_samples": n_samples,
            "base": base,
            "random_state": random_state,
        }
    )
    method, n_samples, entropy = valid.method, valid.n_samples, valid.random_state
    scorer_arguments = (divergence, method, n_samples, base, entropy)
    names = feature_names(reference)
    sampled = divergence != "kl"
    if is_estimator(reference):
        density = as_density(reference, _NAMES[1], needs_sampling=sampled)
        check_density_for_method(method, density, _NAMES[1], n_samples, sampled=sampled)
        return DivergenceScorer(*scorer_arguments, density, reference_names=names)
    data = check_data(
        reference,
        "reference",
        "a fitted density estimator or array-like of shape (n_samples, n_features)",
    )
    fitted = fit_default(data, random_state=fit_seed(entropy, 0))
    density = as_density(fitted, _NAMES[1], needs_sampling=True)
    check_density_for_method(method, density, _NAMES[1], n_samples, sampled=sampled)
    # The data as given, so that pipelines fitted on data frames see columns.
    return DivergenceScorer(
        *scorer_arguments, density, reference_data=reference, reference_names=names
    )
