"""DivergenceDisplay: Monte Carlo convergence against n_samples, with references."""

import warnings

import numpy as np

from ._approximations import APPROXIMATIONS, JS_APPROXIMATIONS
from ._bounds import js_bounds, kl_bounds
from ._divergence import js_divergence, kl_divergence
from ._models import as_density_pair, require_mixtures
from ._montecarlo import MC_METHODS, T_QUANTILE_95
from ._request import (
    PARAMETER_CONSTRAINTS,
    LowPrecisionWarning,
    check_density_for_method,
    validate_params,
)
from ._validation import unit_name

_FUNCTIONS = {"kl": (kl_divergence, kl_bounds, APPROXIMATIONS)}
_FUNCTIONS["js"] = (js_divergence, js_bounds, JS_APPROXIMATIONS)
_SAMPLING_METHODS = ("auto", *MC_METHODS)
_LABELS = {"kl": "KL(P ‖ Q)", "js": "JS(P, Q)"}


def _import_pyplot():
    """matplotlib.pyplot, imported only when something is drawn."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "DivergenceDisplay needs matplotlib, which is not installed. Install "
            'it with `pip install matplotlib` or `pip install "sklearn-divergence'
            '[plot]"`.'
        ) from error
    return plt


check_sample_size = PARAMETER_CONSTRAINTS["n_samples"]


def _check_axes(ax):
    """None or something that draws like a matplotlib Axes."""
    drawing = ("plot", "fill_between", "axhspan", "axhline", "set_xscale", "legend")
    if ax is not None and not all(callable(getattr(ax, m, None)) for m in drawing):
        raise TypeError(
            f"ax must be a matplotlib Axes or None, got {type(ax).__name__} {ax!r}."
        )


class DivergenceDisplay:
    """Convergence plot of a Monte Carlo divergence, with its references.

    Shows the estimate and its 95% confidence band against ``n_samples`` (log
    scale), the deterministic approximations as horizontal lines and the
    guaranteed bounds as a shaded band. Build it with
    :meth:`~DivergenceDisplay.from_estimators`, which computes everything, then
    :meth:`~DivergenceDisplay.plot` draws it. Follows
    scikit-learn's Display API (e.g.
    :class:`~sklearn.metrics.RocCurveDisplay`).

    Parameters
    ----------
    n_samples : ndarray of shape (n_points,)
        Sample sizes of the Monte Carlo estimates.
    estimates, std_errors : ndarray of shape (n_points,)
        The estimates and their standard errors at each sample size.
    divergence : {'kl', 'js'}
        Which divergence, for the labels.
    approximations : dict, default=None
        Deterministic values by method name, drawn as horizontal lines.
    bounds : tuple of float, default=None
        Guaranteed (lower, upper) bounds, drawn as a shaded band.
    unit : str, default='nats'
        Unit for the axis label.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        Its figure.
    line_ : matplotlib Line2D
        The Monte Carlo estimates.
    band_ : matplotlib PolyCollection
        The confidence band, estimate ± 2.36 standard errors: 95% for 'rqmc'
        (the t quantile of its 7 degrees of freedom), about 98% for 'mc' and
        'stratified', which need only ± 1.96.
    approximation_lines_ : dict of matplotlib Line2D
        One line per approximation.
    bounds_band_ : matplotlib Patch or None
        The guaranteed bounds.

    See Also
    --------
    kl_divergence, js_divergence, kl_bounds, js_bounds

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn_divergence import DivergenceDisplay
    >>> rng = np.random.default_rng(0)
    >>> p = GaussianMixture(2, random_state=0).fit(rng.normal(0, 1, (300, 2)))
    >>> q = GaussianMixture(2, random_state=0).fit(rng.normal(1, 1, (300, 2)))
    >>> display = DivergenceDisplay.from_estimators(
    ...     p, q, n_samples=[256, 1024, 4096], random_state=0
    ... )
    >>> display.n_samples.tolist()
    [256, 1024, 4096]
    >>> sorted(display.approximations)[:2]
    ['gaussian', 'matched']
    """

    def __init__(
        self,
        *,
        n_samples,
        estimates,
        std_errors,
        divergence,
        approximations=None,
        bounds=None,
        unit="nats",
    ):
        self.n_samples = n_samples
        self.estimates = estimates
        self.std_errors = std_errors
        self.divergence = divergence
        self.approximations = approximations
        self.bounds = bounds
        self.unit = unit

    @classmethod
    def from_estimators(
        cls,
        p,
        q,
        *,
        divergence="kl",
        n_samples=(256, 1024, 4096, 16_384, 65_536, 262_144),
        method="auto",
        approximations=True,
        bounds=True,
        base=None,
        random_state=None,
        n_jobs=None,
        ax=None,
    ):
        """Estimate the divergence at several sample sizes and plot it.

        Parameters
        ----------
        p, q : fitted estimator
            As in :func:`kl_divergence`.
        divergence : {'kl', 'js'}, default='kl'
            KL(P || Q) or the Jensen-Shannon divergence.
        n_samples : sequence of int, default=(256, ..., 262_144)
            Sample sizes, each at least 2.
        method : {'auto', 'mc', 'stratified', 'rqmc'}, default='auto'
            The Monte Carlo method.
        approximations : bool, default=True
            Draw the deterministic approximations (Gaussian mixtures only).
        bounds : bool, default=True
            Draw the guaranteed bounds (Gaussian mixtures only).
        base : float, default=None
            Logarithm base: None for nats, 2 for bits.
        random_state : int, RandomState instance, Generator or None, default=None
            Seeds the draws; an int gives the same figure every time.
        n_jobs : int, default=None
            As in :func:`kl_divergence`.
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : DivergenceDisplay
            With the values and the drawn artists.
        """
        valid = validate_params(
            {
                "divergence": divergence,
                "method": method,
                "approximations": approximations,
                "bounds": bounds,
                "base": base,
                "n_jobs": n_jobs,
            },
            choices={"divergence": tuple(_FUNCTIONS), "method": _SAMPLING_METHODS},
        )
        sizes = np.array(
            [check_sample_size(n, "n_samples") for n in np.atleast_1d(n_samples)]
        )
        if sizes.size == 0:
            raise ValueError("n_samples must be a non-empty sequence of integers.")
        _check_axes(ax)
        _import_pyplot()  # fail before any work if it cannot be drawn
        # Everything that can fail is checked before the first estimate.
        densities = as_density_pair(p, q, sample_q=divergence == "js")
        if valid.approximations or valid.bounds:
            require_mixtures(
                "approximations=True or bounds=True",
                **dict(zip("pq", densities, strict=True)),
            )
        for name, density in zip("pq", densities, strict=True):
            check_density_for_method(
                method,
                density,
                name,
                int(sizes.min()),
                sampled=name == "p" or divergence == "js",
            )
        estimate, bound_function, methods = _FUNCTIONS[divergence]
        options = {"base": base, "random_state": random_state, "n_jobs": n_jobs}
        with warnings.catch_warnings():
            # Small samples are imprecise by design here, and the band shows it.
            warnings.simplefilter("ignore", LowPrecisionWarning)
            results = np.array(
                [
                    estimate(
                        p, q, method=method, n_samples=n, return_std=True, **options
                    )
                    for n in sizes
                ]
            )
        reference_values = (
            {m: estimate(p, q, method=m, base=base) for m in methods}
            if valid.approximations
            else None
        )
        unit = unit_name(base)
        display = cls(
            n_samples=sizes,
            estimates=results[:, 0],
            std_errors=results[:, 1],
            divergence=divergence,
            approximations=reference_values,
            bounds=bound_function(p, q, base=base) if valid.bounds else None,
            unit=unit,
        )
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the display.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : DivergenceDisplay
            ``self``, with ``ax_``, ``figure_`` and the artists set.
        """
        plt = _import_pyplot()
        if ax is None:
            _, ax = plt.subplots()
        label = _LABELS[self.divergence]
        half_width = T_QUANTILE_95 * np.asarray(self.std_errors)
        self.bounds_band_ = None
        if self.bounds is not None:
            lower, upper = self.bounds
            self.bounds_band_ = ax.axhspan(
                lower, upper, color="0.85", zorder=0, label="guaranteed bounds"
            )
        self.band_ = ax.fill_between(
            self.n_samples,
            self.estimates - half_width,
            self.estimates + half_width,
            alpha=0.3,
            label="95% confidence band",
        )
        (self.line_,) = ax.plot(
            self.n_samples, self.estimates, marker="o", label="Monte Carlo estimate"
        )
        self.approximation_lines_ = {
            name: ax.axhline(
                value, linestyle="--", linewidth=1, label=name, color=f"C{index + 2}"
            )
            for index, (name, value) in enumerate((self.approximations or {}).items())
        }
        ax.set_xscale("log")
        ax.set_xlabel("n_samples")
        ax.set_ylabel(f"{label} ({self.unit})")
        ax.legend(fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
