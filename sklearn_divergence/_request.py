"""One path for every entry point: validate a call, resolve methods, estimate.

``kl_divergence``, ``js_divergence`` and ``js_distance``, ``GMMDivergence.fit``,
the scorer of ``make_divergence_scorer``, ``divergence_test`` and
``DivergenceDisplay`` are thin adapters around this module:

1. :func:`validate_params` checks a call's parameters against one table,
   ``PARAMETER_CONSTRAINTS``, before any work, with one message style:
   "<name> must be <what>, got <value>." (as scikit-learn's
   ``_parameter_constraints``, which this table imitates);
2. the inputs become densities (``_models.as_density``), and
   :func:`check_density_for_method` says, before any sampling, whether the
   method suits each of them;
3. :func:`divergences_in_nats` resolves each sampled side's method once,
   estimates every requested divergence from one pass per side, and
   :func:`in_unit` clips and converts the result.
"""

import math
import warnings
from dataclasses import dataclass
from types import SimpleNamespace

from ._approximations import (
    APPROXIMATIONS,
    JS_APPROXIMATIONS,
    approximate_js,
    approximate_kl,
)
from ._closed_form import kl_from_cholesky
from ._fitting import one_thread
from ._gaussian import GaussianMixtureParams
from ._models import as_density, require_mixtures
from ._montecarlo import (
    MC_METHODS,
    estimate_sides,
    js_estimate,
    make_side,
    max_samples,
    min_samples,
)
from ._validation import (
    check_count,
    check_flag,
    check_fraction,
    check_max_dimensions,
    check_n_jobs,
    log_base,
    seed_entropy,
)

METHODS = ("auto", "closed", *MC_METHODS, *APPROXIMATIONS)

_LOG_2 = math.log(2.0)
# A standard error above this fraction of the value triggers a warning.
LOW_PRECISION = 0.1


class LowPrecisionWarning(UserWarning):
    """A Monte Carlo estimate whose standard error is over 10% of its value."""


def _side_method(method, density, name, n_samples):
    """Resolve the method for sampling ``density``; fail before any work."""
    if not isinstance(density, GaussianMixtureParams):
        if method in ("stratified", "rqmc"):
            raise ValueError(
                f"method={method!r} needs {name} to be a Gaussian mixture "
                "(GaussianMixture, BayesianGaussianMixture or KernelDensity with "
                f"kernel='gaussian'); use method='mc' for {name}."
            )
        return "mc"
    if method == "auto":
        feasible = [
            m
            for m in ("rqmc", "stratified")
            if min_samples(m, density.n_components) <= n_samples <= max_samples(m)
        ]
        return feasible[0] if feasible else "mc"
    needed = min_samples(method, density.n_components)
    if n_samples < needed:
        raise ValueError(
            f"method={method!r} needs n_samples >= {needed} for {name} with "
            f"{density.n_components} components; got n_samples={n_samples}."
        )
    if n_samples > max_samples(method):
        raise ValueError(
            f"method={method!r} needs n_samples <= {max_samples(method)}, as many "
            f"points as its sample plan can index; got n_samples={n_samples}."
        )
    return method


def _is_single_gaussian(density):
    return isinstance(density, GaussianMixtureParams) and density.n_components == 1


def check_density_for_method(method, density, name, n_samples, *, sampled):
    """Raise, before any work, if ``method`` cannot be used with ``density``.

    ``sampled`` says whether points are drawn from ``density``. Returns the
    sampling method resolved for it ('mc', 'stratified' or 'rqmc'), or None
    when it is not sampled.
    """
    if method in APPROXIMATIONS:
        require_mixtures(f"method={method!r}", **{name: density})
    elif method == "closed" and not _is_single_gaussian(density):
        components = getattr(density, "n_components", "an unknown number of")
        raise ValueError(
            "method='closed' needs both models to be single Gaussians "
            f"(n_components=1); {name} has {components} components."
        )
    elif sampled:
        return _side_method(method, density, name, n_samples)
    return None


def _closed_form_kl(density_p, density_q):
    L_p, L_q = density_p.covariance_cholesky(0), density_q.covariance_cholesky(0)
    return kl_from_cholesky(density_p.means[0], L_p, density_q.means[0], L_q)


def check_method_for(method, divergences):
    """Raise unless ``method`` can compute every one of ``divergences``."""
    if divergences <= {"kl", "kl_reverse"}:
        return
    if method == "closed":
        raise ValueError(
            "There is no closed form for the Jensen-Shannon divergence between "
            "Gaussians; use method='rqmc' (or 'auto')."
        )
    if method in APPROXIMATIONS and method not in JS_APPROXIMATIONS:
        raise ValueError(
            f"method={method!r} is not available for the Jensen-Shannon "
            "divergence: it matches each component of P to itself in (P + Q) / 2 "
            "and always gives log 2. Valid approximations for JS are "
            f"{', '.join(repr(m) for m in JS_APPROXIMATIONS)}."
        )


# The KL that the integrand "kl" gives on each side: sampling P gives KL(P || Q).
_KL_OF_SIDE = {"p": "kl", "q": "kl_reverse"}
# (integrand, the divergence it serves) on each side; JS takes two integrands
# of both sides (see _montecarlo.js_estimate).
_INTEGRANDS_OF_SIDE = {
    key: (("kl", kl), ("js", "js"), ("js_marginal", "js"))
    for key, kl in _KL_OF_SIDE.items()
}


# The planning around the engine (factors, pairwise KL, control means) makes
# many tiny BLAS calls: with idle BLAS threads spinning on a busy machine, a
# 10 x 10 triangular solve took 7 ms instead of 0.03 ms.
@one_thread
def divergences_in_nats(
    density_p,
    density_q,
    divergences,
    method,
    n_samples,
    entropy,
    n_jobs,
    names=("p", "q"),
    *,
    warn=True,
):
    """Estimate several of 'kl', 'kl_reverse' and 'js' in one pass per side.

    The arguments must be validated already, except for the fit between the
    method and the densities; ``names`` name the densities in errors. Returns
    {name: (value, std_error)} in nats, not yet clipped to the valid range.
    ``warn=False`` leaves out the LowPrecisionWarning, for callers whose
    estimates are replicates of a resampling scheme.
    """
    sampled = {"p": bool(divergences - {"kl_reverse"}), "q": divergences != {"kl"}}
    side_methods = {
        key: check_density_for_method(
            method, density, name, n_samples, sampled=sampled[key]
        )
        for key, density, name in zip("pq", (density_p, density_q), names, strict=True)
    }
    pairs = {"kl": (density_p, density_q), "kl_reverse": (density_q, density_p)}
    pair_names = {"kl": tuple(names), "kl_reverse": tuple(names)[::-1]}
    if method in APPROXIMATIONS:
        return {
            divergence: (
                approximate_js(density_p, density_q, method, tuple(names))
                if divergence == "js"
                else approximate_kl(*pairs[divergence], method, pair_names[divergence]),
                0.0,
            )
            for divergence in divergences
        }
    results = {}
    both_single = _is_single_gaussian(density_p) and _is_single_gaussian(density_q)
    if method == "closed" or (method == "auto" and both_single):
        results = {
            name: (_closed_form_kl(*pairs[name]), 0.0) for name in divergences - {"js"}
        }

    sides = []
    for key, (sampled, other) in zip(
        "pq", (pairs["kl"], pairs["kl_reverse"]), strict=True
    ):
        integrands = tuple(
            integrand
            for integrand, divergence in _INTEGRANDS_OF_SIDE[key]
            if divergence in divergences and divergence not in results
        )
        if integrands:
            sides.append(
                make_side(
                    key,
                    sampled,
                    other,
                    integrands,
                    side_methods[key],
                    n_samples,
                    entropy,
                )
            )
    estimates = dict(
        zip(
            (side.key for side in sides),
            estimate_sides(sides, n_jobs),
            strict=True,
        )
    )
    for key, name in _KL_OF_SIDE.items():
        if name in divergences and name not in results:
            results[name] = estimates[key].value("kl")
    if "js" in divergences:
        results["js"] = js_estimate(estimates["p"], estimates["q"])
    for name, (value, std_error) in results.items():
        if warn and std_error > LOW_PRECISION * abs(value):
            warnings.warn(
                f"The standard error of {name} ({std_error:.2g} nats) is more than "
                f"{LOW_PRECISION:.0%} of its value ({value:.2g} nats); increase "
                "n_samples for a more precise estimate.",
                LowPrecisionWarning,
                stacklevel=3,
            )
    return results


def in_unit(divergence, value, std_error, unit):
    """Clip a value in nats to its valid range and convert it to the unit.

    Returns Python floats.
    """
    value, std_error = float(value), float(std_error)
    if divergence in _KL_OF_SIDE.values():
        return max(value, 0.0) / unit, std_error / unit
    value = min(max(value, 0.0), _LOG_2)
    if divergence == "js_distance":
        return _square_root(value / unit, std_error / unit)
    return value / unit, std_error / unit


def _square_root(value, std_error):
    """sqrt of an estimate with its delta-method standard error se / (2 sqrt v).

    Near 0 the delta method blows up; sqrt(v + se) - sqrt(v) <= sqrt(se) caps it.
    """
    root = math.sqrt(value)
    cap = math.sqrt(std_error)
    return root, (min(std_error / (2 * root), cap) if root > 0 else cap)


# Every divergence an entry point can report; each narrows the choice.
DIVERGENCES = ("kl", "kl_reverse", "js", "js_distance")


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    choices: tuple

    def __call__(self, value, name):
        if not isinstance(value, str) or value not in self.choices:
            listed = ", ".join(repr(choice) for choice in self.choices)
            raise ValueError(f"{name} must be one of {listed}, got {value!r}.")
        return value


@dataclass(frozen=True)
class Count:
    """An integer in [minimum, maximum]; no upper limit if maximum is None."""

    minimum: int
    maximum: int = None

    def __call__(self, value, name):
        return check_count(value, name, self.minimum, self.maximum)


# name -> check(value, name), which returns the validated value. 'base' comes
# back as ln(base), the divisor from nats to the unit, and 'random_state' as
# the entropy of the SeedSequence behind every random stream.
PARAMETER_CONSTRAINTS = {
    "divergence": Options(DIVERGENCES),
    "method": Options(METHODS),
    # The most that any method's sample plan can index; 'rqmc' allows fewer.
    "n_samples": Count(2, max_samples("mc")),
    "base": lambda value, name: log_base(value),
    "random_state": lambda value, name: seed_entropy(value),
    "n_jobs": lambda value, name: check_n_jobs(value),
    "return_std": check_flag,
    "approximations": check_flag,
    "bounds": check_flag,
    "n_bootstrap": Count(0),
    "n_permutations": Count(1),
    "confidence_level": check_fraction,
    "dequantize": check_flag,
    "max_dimensions": check_max_dimensions,
}


def validate_params(params, *, choices=None, divergences=None):
    """Validate an entry point's parameters, in order, before any work.

    Parameters
    ----------
    params : dict
        Parameter name to value; every name must be in PARAMETER_CONSTRAINTS.
    choices : dict, optional
        Narrower options for this entry point, such as the divergences that
        a scorer accepts.
    divergences : set, optional
        The divergences computed, when there is no 'divergence' parameter;
        the method is checked against them.

    Returns
    -------
    validated : types.SimpleNamespace
        The validated values as attributes, with ``base`` as ln(base) and
        ``random_state`` as SeedSequence entropy.
    """
    checks = dict(PARAMETER_CONSTRAINTS)
    checks.update(
        {name: Options(tuple(valid)) for name, valid in (choices or {}).items()}
    )
    validated = {name: checks[name](value, name) for name, value in params.items()}
    if "divergence" in validated:
        divergences = {_ESTIMATED[validated["divergence"]]}
    if "method" in validated and divergences is not None:
        check_method_for(validated["method"], divergences)
    return SimpleNamespace(**validated)


# The divergence estimated for each reported one.
_ESTIMATED = {"kl": "kl", "kl_reverse": "kl_reverse", "js": "js", "js_distance": "js"}


def estimated(divergence):
    """The divergence in nats that a reported one comes from: 'js' for the
    JS distance."""
    return _ESTIMATED[divergence]


@dataclass(frozen=True)
class DivergenceRequest:
    """What to estimate between each pair of fitted models, and how."""

    divergences: frozenset  # of 'kl', 'kl_reverse', 'js'
    method: str
    n_samples: int
    entropy: object  # seeds the Monte Carlo streams, the same for every replicate

    def between(self, model_p, model_q, names=("P", "Q"), *, warn=False):
        """{divergence: (value, std_error)} in nats between two fitted models."""
        return divergences_in_nats(
            as_density(model_p, names[0], needs_sampling=True),
            as_density(model_q, names[1], needs_sampling=True),
            self.divergences,
            self.method,
            self.n_samples,
            self.entropy,
            1,
            names,
            warn=warn,
        )
