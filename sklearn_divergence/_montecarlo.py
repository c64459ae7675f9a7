"""Monte Carlo engine: chunked, parallel and reproducible estimation of E_s[h].

One *side* estimates the expectations, under a sampled density s, of one or
more integrands of log s(x) and log t(x) for another density t, all from the
same points:

* ``"kl"``: h = log s - log t, so the side gives KL(s || t);
* ``"js"``: h = log 2 + log s - logaddexp(log s, log t), so the side gives
  KL(s || m) with m = (s + t) / 2, and JS = (side_p + side_q) / 2;
* ``"js_marginal"``: h = log 2 - H_b(s / (s + t)), with H_b the binary
  entropy in nats. Points of both sides are draws from m, and this is the
  expectation over which side a point came from, so E_p[h] + E_q[h] = 2 JS
  too, from an integrand bounded in [0, log 2] that varies less.

Both JS integrands are estimated from the same points; :func:`js_estimate`
combines them with the weight that minimises the variance of the sum over
both sides (a weight shared by the sides keeps the combination unbiased).

Samples are drawn in fixed-size chunks. The chunk plan and every random stream
(``SeedSequence(entropy, spawn_key=...)``) depend only on the seed, the models
and ``n_samples``, never on ``n_jobs``, and chunk results are reduced in chunk
order, so results are bit-identical for any number of jobs. The plan is
generated as it runs, so memory does not grow with ``n_samples``; a number of
samples the plan cannot index (:func:`max_samples`) is refused before any
sampling.

Variance reduction for Gaussian mixtures (Chen, Hershey, Olsen & Yashchin,
ICASSP 2008, for the control variates):

* stratification by component: component a gets an exact share of the points
  and E_s[h] = sum_a w_a E_{s_a}[h];
* control variates: within stratum a the weighted log-densities of s_a and of
  the best-matched components t_b have exactly known means,
  E_{s_a}[log s_a] = -H_a and E_{s_a}[log t_b] = -H_a - KL(s_a || t_b), and are
  regressed out of h with per-stratum least-squares coefficients. The means
  come from Cholesky factors, and a bound on their rounding, which no spread
  of the samples shows, is added to the standard error in quadrature;
* randomized quasi-Monte Carlo: one scrambled Sobol' sequence (a random
  linear matrix scramble and digital shift) per side, in which each component
  has a power-of-two block aligned on a multiple of its size, so each block is
  itself a scrambled (t, m, s)-net. Each replicate applies its own random
  digital shift to the sequence, carried to infinite precision, so every
  point is uniform and the replicates are independent given the scramble;
  their spread gives the standard error (Owen, "Monte Carlo theory, methods
  and examples", ch. 17). One pass over the sequence serves several
  replicates, and no replicate pays for a scramble of its own.

Between two Gaussian mixtures the draws stay in the standard normal
coordinates z of their stratum's component: every component of both mixtures
is a quadratic in z (:class:`~._gaussian.StandardCoordinates`), so one matrix
product per block gives both densities and the controls, without forming the
points x = mu_a + L_a z (d = 10, 8 against 8 components: 87 to 61 ms per KL
call, 171 to 123 ms per JS call). For KL between mixtures that each share one
covariance (tied, one component), the integrand is replaced by its
conditional expectation given the few directions of z that tell each
mixture's components apart, and only those are sampled (conditional Monte
Carlo, Owen's ch. 8): d = 10, 3 against 3 tied components, 14 times less
variance in two thirds of the time; d = 20, 2 against 3, 160 times less in a
third of the time. Between spherical mixtures the draws are exactly the few
coordinates that every component depends on, y = W z and |z - W^T y|, the
latter from half as many uniforms as the dimensions it stands for (radial
coordinates, for KL and JS): d = 20, 3 against 5 components, 2.6 times less
variance for KL in two thirds of the time.
"""

import copy
import warnings
from dataclasses import dataclass
from itertools import islice

import numpy as np
from scipy import stats
from scipy.special import entr, ndtri
from scipy.stats import qmc
from sklearn.utils.parallel import delayed

from ._closed_form import kl_from_factors
from ._config import run_tasks
from ._fitting import single_threaded
from ._gaussian import (
    GaussianMixtureParams,
    StandardCoordinates,
    logsumexp_columns,
    pairwise_kl,
    radial_draws,
)

MC_METHODS = ("mc", "stratified", "rqmc")

# Fixed block size: about 2.6 MiB of samples in d = 20, which bounds memory,
# and the unit of work handed to joblib (except for RQMC, see Side.chunks). It
# must not depend on n_jobs (reproducibility).
CHUNK_SIZE = 2**14
# run_tasks holds all the tasks and results of one call in memory, so a longer
# plan is handed to it in parts of this many tasks (2**26 points).
TASKS_PER_CALL = 2**12
# scipy's qmc.Sobol generates at most 2**bits points per engine (bits=30 is
# its default), and one engine's sequence serves every replicate.
_SOBOL_BITS = 30
# Allocations are computed in float64, exact for integers up to 2**53.
_MAX_EXACT_INTEGER = 2**53
# Independent RQMC replicates (digital shifts): the standard error has
# N_REPLICATES - 1 degrees of freedom. Fewer replicates of more points each
# cost degrees of freedom but lower the variance, since a net's error falls
# faster than 1 / n: at n_samples = 100 000 on the benchmark suite (d = 1 to
# 20, KL and JS, mean squared standard error over 30 seeds), 8 replicates
# instead of 16 had 1.1 to 2.7 times less variance, except d = 20 diag KL
# (0.9, within the measurement's +-25%).
N_REPLICATES = 8
# value +- this many standard errors of 'rqmc' is a 95% interval.
T_QUANTILE_95 = float(stats.t.ppf(0.975, N_REPLICATES - 1))
# Replicates per RQMC task, which share one pass over the Sobol' sequence;
# N_REPLICATES / this many tasks per side give n_jobs work to share even at
# small n_samples.
REPLICATES_PER_TASK = 4
# Components of t used as control variates for each stratum of s.
N_MATCHED_CONTROLS = 2
# Control variates are fitted only in strata this large per coefficient, so
# that estimating the coefficients costs almost no variance.
MIN_SAMPLES_PER_COEFFICIENT = 32
# Bound on n_components(s) * n_components(t) for the pairwise KL matrix
# that the control variates need (a KDE can have many components).
MAX_PAIRWISE = 2**22
# Matched pairs are handled in blocks of at most this many (d, d) factor
# entries (32 MiB per stack), however many components a KDE has.
_PAIR_BLOCK_FLOATS = 2**22

# Per-stratum co-moments take one matrix product per stratum when strata
# average this many rows in a block; below it a Python loop over many small
# strata (a KDE's) costs more than one pass of outer products.
_MIN_ROWS_PER_PRODUCT = 64

_LOG_2 = np.log(2.0)
_EPS = np.finfo(np.float64).eps
_SIDE_KEYS = {"p": 0, "q": 1}
# spawn_key suffix of a side's scrambled Sobol' sequence; the replicates'
# digital shifts take (side, 0) to (side, N_REPLICATES - 1).
_SCRAMBLE_STREAM = N_REPLICATES


def min_samples(method, n_components):
    """Smallest n_samples for which ``method`` can run on a mixture."""
    if method == "rqmc":
        return N_REPLICATES * n_components
    if method == "stratified":
        return 2 * n_components
    return 2


def max_samples(method):
    """Largest n_samples for which ``method`` can index its sample plan."""
    if method == "rqmc":
        return N_REPLICATES * 2**_SOBOL_BITS
    return _MAX_EXACT_INTEGER


def _allocate_proportional(weights, total, minimum):
    """Integer counts summing to ``total``, at least ``minimum`` each, else ~w."""
    free = total - minimum * weights.size
    target = weights * free
    counts = np.floor(target).astype(np.int64)
    remainder = free - counts.sum()
    # Largest remainders first; stable sort keeps the plan deterministic.
    counts[np.argsort(counts - target, kind="stable")[:remainder]] += 1
    return counts + minimum


def _allocate_powers_of_two(weights, total):
    """Power-of-two counts per component, at least 1 each, summing to <= total."""
    target = np.maximum(weights * total, 1.0)
    counts = 2 ** np.floor(np.log2(target)).astype(np.int64)
    remaining = total - counts.sum()
    # Doubling once is all any component can take (target / count < 2 after
    # the floor); serve the most under-sampled components first.
    for k in np.argsort(counts / target, kind="stable"):
        if counts[k] <= remaining:
            remaining -= counts[k]
            counts[k] *= 2
    return counts


@dataclass(frozen=True, eq=False)
class Side:
    """Everything needed to estimate one expectation, fixed before any sampling."""

    key: str  # "p" or "q": which distribution is sampled; selects the streams
    sampled: object  # GaussianMixtureParams or EstimatorDensity
    other: object
    integrands: tuple  # of "kl" and "js", estimated from the same points
    method: str
    n_samples: int
    entropy: object  # of the SeedSequence behind every stream
    allocation: np.ndarray = None  # stratified: per component; rqmc: per replicate
    controls: np.ndarray = None  # (K, m) matched components of `other`
    control_means: np.ndarray = None  # (K, 1 + m) exact means of the controls
    control_rounding: np.ndarray = None  # (K, 1 + m) bound on their rounding
    # RQMC: the side's scrambled Sobol' engine, which every task copies.
    sobol: qmc.Sobol = None
    # Both densities in the standard coordinates of s's components, or None.
    standard: StandardCoordinates = None

    @property
    def n_dimensions(self):
        """The dimension of the standard normal draws."""
        return _draw_dimensions(self.sampled, self.standard)

    @property
    def radial_degrees(self):
        """Degrees of freedom of the radius where the draws are radial, else 0."""
        return 0 if self.standard is None else self.standard.radial_degrees

    @property
    def n_strata(self):
        return 1 if self.method == "mc" else self.sampled.n_components

    @property
    def n_targets(self):
        return len(self.integrands)

    @property
    def _stream_length(self):
        """Points of one stream: one replicate's for RQMC."""
        if self.method == "rqmc":
            return int(self.allocation.sum())
        return self.n_samples

    @property
    def n_chunks(self):
        per_group = -(-self._stream_length // CHUNK_SIZE)
        if self.method == "rqmc":
            return per_group * (N_REPLICATES // REPLICATES_PER_TASK)
        return per_group

    def chunks(self):
        """Yield the task plan: (replicates, start, stop), indices into one stream.

        A task is one block of CHUNK_SIZE stream indices: CHUNK_SIZE points,
        except for RQMC, where the task draws those stream points once and
        shifts them for each of its REPLICATES_PER_TASK replicates.
        The plan is generated, never stored: its memory does not grow with
        n_samples.
        """
        groups = [(0,)]
        if self.method == "rqmc":
            groups = [
                tuple(range(first, first + REPLICATES_PER_TASK))
                for first in range(0, N_REPLICATES, REPLICATES_PER_TASK)
            ]
        length = self._stream_length
        for replicates in groups:
            for start in range(0, length, CHUNK_SIZE):
                yield replicates, start, min(start + CHUNK_SIZE, length)


def _draw_dimensions(sampled, standard, *, uniforms=False):
    """The dimension of the draws, or with ``uniforms`` of the uniforms that
    RQMC maps to them (fewer for radial coordinates)."""
    if standard is None:
        return sampled.n_features
    return standard.n_uniforms if uniforms else standard.n_dimensions


def make_side(key, sampled, other, integrands, method, n_samples, entropy):
    """Plan one side: allocation, control variates and, for RQMC, the Sobol'
    engine. Raises on infeasible input."""
    standard = None
    if not isinstance(sampled, GaussianMixtureParams):
        method = "mc"
    elif isinstance(other, GaussianMixtureParams):
        standard = StandardCoordinates.of(
            sampled, (sampled, other), conditional=tuple(integrands) == ("kl",)
        )
    fields = (key, sampled, other, integrands, method, n_samples, entropy)
    if method == "mc":
        return Side(*fields, standard=standard)
    weights = sampled.weights
    sobol = None
    if method == "rqmc":
        allocation = _allocate_powers_of_two(weights, n_samples // N_REPLICATES)
        scramble = np.random.SeedSequence(
            entropy, spawn_key=(_SIDE_KEYS[key], _SCRAMBLE_STREAM)
        )
        sobol = qmc.Sobol(
            _draw_dimensions(sampled, standard, uniforms=True),
            scramble=True,
            bits=_SOBOL_BITS,
            rng=np.random.default_rng(scramble),
        )
    else:
        allocation = _allocate_proportional(weights, n_samples, 2)
    controls = _plan_controls(sampled, other, n_samples)
    return Side(*fields, allocation, *controls, sobol, standard)


def _plan_controls(sampled, other, n_samples):
    """(controls, control_means, control_rounding) of a side, or Nones when
    its strata are too small to fit coefficients.

    The own component of s comes first in every stratum, then the matched
    components of t; E_{s_a}[log w_b t_b] = log w_b - H_a - KL(s_a || t_b).
    """
    k = sampled.n_components
    if n_samples < 2 * MIN_SAMPLES_PER_COEFFICIENT * k:
        return None, None, None
    controls = np.empty((k, 0), dtype=np.intp)
    matched_log_weights = divergences = matched_rounding = np.empty((k, 0))
    if (
        isinstance(other, GaussianMixtureParams)
        and k * other.n_components <= MAX_PAIRWISE
    ):
        # Goldberger's matching: the components of t that best explain s_a.
        # pairwise_kl works on explicit matrices, whose rounding (cond(Sigma)
        # eps) may sway this choice but never reaches the control means.
        cost = pairwise_kl(sampled, other) - other.log_weights
        n_matched = min(N_MATCHED_CONTROLS, other.n_components)
        controls = np.argsort(cost, axis=1, kind="stable")[:, :n_matched]
        matched_log_weights = other.log_weights[controls]
        divergences, matched_rounding = _matched_divergences(sampled, other, controls)
    log_weights = np.hstack([sampled.log_weights[:, None], matched_log_weights])
    divergences = np.hstack([np.zeros((k, 1)), divergences])
    means = log_weights - sampled.entropies[:, None] - divergences
    # Besides the divergences' own rounding, d eps of every term summed.
    terms = (
        np.abs(log_weights)
        + np.abs(sampled.entropies)[:, None]
        + divergences
        + sampled.n_features
    )
    rounding = np.hstack([np.zeros((k, 1)), matched_rounding])
    rounding += sampled.n_features * _EPS * terms
    return controls, means, rounding


def _matched_divergences(sampled, other, controls):
    """KL(s_a || t_b) for the matched pairs, and a bound on its rounding.

    Computed from Cholesky factors, as the closed form is: with condition
    numbers of 1e12 the explicit matrices of pairwise_kl lose percents, and
    the control variates pass a mean's error straight into the estimate.
    """
    sampled_index = np.repeat(np.arange(controls.shape[0]), controls.shape[1])
    other_index = controls.ravel()
    divergences = np.empty(other_index.size)
    rounding = np.empty(other_index.size)
    step = max(1, _PAIR_BLOCK_FLOATS // sampled.n_features**2)
    for start in range(0, other_index.size, step):
        block = slice(start, start + step)
        a, b = sampled_index[block], other_index[block]
        divergences[block], rounding[block] = kl_from_factors(
            sampled.means[a],
            sampled.covariance_factors(a),
            other.means[b],
            other.precision_factors(b),
        )
    return divergences.reshape(controls.shape), rounding.reshape(controls.shape)


def _standard_normal_blocks(side, replicates, start, stop):
    """Yield (Z, strata, cells) for stream indices [start, stop), block by block.

    Rows are grouped by cell, a stratum and one of ``replicates``: cell
    a * len(replicates) + j for stratum a and the j-th replicate, which is
    also grouped by stratum. Within a cell order is free.
    """
    if side.method == "rqmc":
        yield from _rqmc_normal_blocks(side, replicates, start, stop)
        return
    side_key = _SIDE_KEYS[side.key]
    for block_start in range(start, stop, CHUNK_SIZE):
        block_stop = min(block_start + CHUNK_SIZE, stop)
        rng = np.random.default_rng(
            np.random.SeedSequence(
                side.entropy, spawn_key=(side_key, block_start // CHUNK_SIZE)
            )
        )
        if side.method == "stratified":
            ends = np.cumsum(side.allocation)
            positions = np.arange(block_start, block_stop)
            labels = np.searchsorted(ends, positions, side="right")
        else:
            labels = np.repeat(
                np.arange(side.sampled.n_components),
                rng.multinomial(block_stop - block_start, side.sampled.weights),
            )
        Z = rng.standard_normal((block_stop - block_start, side.n_dimensions))
        if side.radial_degrees:
            Z[:, -1] = np.sqrt(rng.chisquare(side.radial_degrees, size=Z.shape[0]))
        grouping = np.argsort(labels, kind="stable")
        strata = labels[grouping]
        cells = strata if side.n_strata > 1 else np.zeros_like(strata)
        yield Z[grouping], strata, cells


def _rqmc_normal_blocks(side, replicates, start, stop):
    """:func:`_standard_normal_blocks` for RQMC: every replicate digitally
    shifts the side's one scrambled Sobol' sequence, in which each component
    has a block of allocation[a] points aligned on a multiple of its size."""
    d = _draw_dimensions(side.sampled, side.standard, uniforms=True)
    width = len(replicates)
    shifts, offsets = [], []
    for replicate in replicates:
        rng = np.random.default_rng(
            np.random.SeedSequence(
                side.entropy, spawn_key=(_SIDE_KEYS[side.key], replicate)
            )
        )
        shifts.append(rng.integers(0, 2**_SOBOL_BITS, size=d))
        # The bits beyond the engine's: a digital shift of infinite precision.
        offsets.append(rng.random(d))
    shifts = np.array(shifts)[:, None, :]
    # Kept within [2**-60, 2**-30 - 2**-52], so that every uniform lies in
    # (0, 1 - 2**-52] and its normal is finite, without a pass over the
    # points; this moves an offset with probability 2**-22, by < 2**-52.
    offsets = np.clip(
        np.array(offsets)[:, None, :] * 2.0**-_SOBOL_BITS,
        2.0**-60,
        2.0**-_SOBOL_BITS - 2.0**-52,
    )
    # Components in decreasing block size, so each block starts at a
    # multiple of its own power-of-two size.
    order = np.argsort(-side.allocation, kind="stable")
    ends = np.cumsum(side.allocation[order])
    engine = copy.deepcopy(side.sobol)  # the side's engine stays at its start
    if start:
        engine.fast_forward(start)
    for block_start in range(start, stop, CHUNK_SIZE // width):
        block_stop = min(block_start + CHUNK_SIZE // width, stop)
        with warnings.catch_warnings():
            # Components are aligned power-of-two blocks; chunks need not be.
            warnings.filterwarnings("ignore", message="The balance properties")
            points = engine.random(block_stop - block_start)
        # Exact: the engine's points are integers times 2**-_SOBOL_BITS.
        digits = (points * 2.0**_SOBOL_BITS).astype(np.int64)
        # In place: at d = 20 the temporaries of each step cost as much as
        # ndtri itself (8.0 against 5.4 ms per 16 384 points).
        draws = np.multiply(digits[None] ^ shifts, 2.0**-_SOBOL_BITS)
        draws += offsets
        if side.radial_degrees:
            draws = radial_draws(draws, side.n_dimensions - 1, side.radial_degrees)
        else:
            ndtri(draws, out=draws)
        positions = np.arange(block_start, block_stop)
        strata = order[np.searchsorted(ends, positions, side="right")]
        cells = (strata[None, :] * width + np.arange(width)[:, None]).ravel()
        grouping = np.argsort(cells, kind="stable")
        draws = draws.reshape(-1, side.n_dimensions)[grouping]
        yield draws, cells[grouping] // width, cells[grouping]


def _sample_blocks(side, replicates, start, stop):
    """Yield (draws, strata, cells) blocks of at most CHUNK_SIZE points of the
    side (see :func:`_standard_normal_blocks`): standard normal coordinates
    for a Gaussian mixture, points otherwise."""
    sampled = side.sampled
    if isinstance(sampled, GaussianMixtureParams):
        yield from _standard_normal_blocks(side, replicates, start, stop)
        return
    for block_start in range(start, stop, CHUNK_SIZE):
        size = min(CHUNK_SIZE, stop - block_start)
        seed = np.random.SeedSequence(
            side.entropy, spawn_key=(_SIDE_KEYS[side.key], block_start // CHUNK_SIZE)
        )
        labels = np.zeros(size, dtype=np.intp)
        yield sampled.sample(size, seed), labels, labels


def _integrand(side, draws, labels):
    """Integrands, then control variates, as columns of an (n, q) array."""
    log_s, log_t, columns = _log_densities(side, draws, labels)
    if not np.all(np.isfinite(log_s)):
        raise ValueError(
            f"The log-density of {side.key} is not finite at points sampled from "
            f"{side.key}; its estimator's sample and score_samples disagree."
        )
    log_m = np.logaddexp(log_s, log_t)
    targets = [
        _TARGETS[integrand](log_s, log_t, log_m) for integrand in side.integrands
    ]
    return np.vstack([*targets, *columns]).T


def _log_densities(side, draws, labels):
    """(log s, log t, control columns) at a block's points, from the draws of
    :func:`_sample_blocks`: the own component's weighted log-probability, then
    the matched components', when the side has controls."""
    sampled, other = side.sampled, side.other
    if not isinstance(sampled, GaussianMixtureParams):
        return sampled.log_density(draws), other.log_density(draws), []
    if side.standard is not None:
        return _standard_log_densities(side, draws, labels)
    counts = np.bincount(labels, minlength=sampled.n_components)
    X = sampled.transform_standard_normal(draws, counts)
    if side.controls is None:
        return sampled.log_density(X), other.log_density(X), []
    log_s, own = sampled.log_density(X, gather=labels[None, :])
    if not side.controls.shape[1]:
        return log_s, other.log_density(X), [own]
    log_t, matched = other.log_density(X, gather=side.controls[labels].T)
    return log_s, log_t, [own, matched]


def _standard_log_densities(side, Z, labels):
    """:func:`_log_densities` by one product per block of a stratum in its
    standard coordinates ``Z`` (see :class:`StandardCoordinates`)."""
    n_sampled = side.sampled.n_components
    n = Z.shape[0]
    log_s, log_t = np.empty(n), np.empty(n)
    with_controls = side.controls is not None
    columns = np.empty((1 + side.controls.shape[1] if with_controls else 0, n))
    for stratum, rows, log_probs in side.standard.blocks(Z, labels):
        log_s[rows] = logsumexp_columns(log_probs[:n_sampled])
        log_t[rows] = logsumexp_columns(log_probs[n_sampled:])
        if with_controls:
            columns[0, rows] = log_probs[stratum]
            columns[1:, rows] = log_probs[n_sampled + side.controls[stratum]]
    return log_s, log_t, columns


def _marginal_js(log_s, log_t, log_m):
    # log 2 - H_b(r) with r = s / (s + t); entr(0) = 0 where t = 0.
    return _LOG_2 - entr(np.exp(log_s - log_m)) - entr(np.exp(log_t - log_m))


_TARGETS = {
    # KL: +inf where t = 0, handled by the caller.
    "kl": lambda log_s, log_t, log_m: log_s - log_t,
    "js": lambda log_s, log_t, log_m: _LOG_2 + log_s - log_m,
    "js_marginal": _marginal_js,
}


@dataclass(frozen=True, eq=False)
class Moments:
    """Per-stratum count, means and co-moment matrices of (h..., controls...)."""

    count: np.ndarray  # (K,)
    mean: np.ndarray  # (K, q)
    comoment: np.ndarray  # (K, q, q): sum of outer products of deviations
    infinite: np.ndarray  # (n_targets,): the integrand was +inf somewhere

    def merge(self, other):
        """Chan, Golub & LeVeque's pairwise update, vectorised over strata."""
        count = self.count + other.count
        safe = np.maximum(count, 1)
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / safe)[:, None]
        scale = (self.count * other.count / safe)[:, None, None]
        outer = delta[:, :, None] * delta[:, None, :]
        comoment = self.comoment + other.comoment + scale * outer
        return Moments(count, mean, comoment, self.infinite | other.infinite)

    def take(self, index):
        """The moments of the cells ``index`` (an index array or slice)."""
        return Moments(
            self.count[index], self.mean[index], self.comoment[index], self.infinite
        )


def _block_moments(side, values, cells, n_cells):
    """Per-cell moments of one block of integrand and control values, for
    ``cells`` sorted in [0, n_cells).

    An integrand that is +inf somewhere (t = 0 where s > 0) is flagged as
    infinite and zeroed, so that its moments stay finite.
    """
    targets = values[:, : side.n_targets]  # a view: zeroing edits ``values``
    infinite = np.isposinf(targets).any(axis=0)
    targets[:, infinite] = 0.0
    counts = np.bincount(cells, minlength=n_cells)
    present = np.flatnonzero(counts)
    starts = np.concatenate([[0], np.cumsum(counts[present])[:-1]])
    q = values.shape[1]
    mean = np.zeros((n_cells, q))
    mean[present] = np.add.reduceat(values, starts, axis=0) / counts[present, None]
    deviations = values - mean[cells]
    comoment = np.zeros((n_cells, q, q))
    if present.size * _MIN_ROWS_PER_PRODUCT <= values.shape[0]:
        # Few, large strata: one small matrix product each, 10 to 30 times
        # faster than the outer products below.
        for stratum, start, count in zip(present, starts, counts[present], strict=True):
            rows = deviations[start : start + count]
            comoment[stratum] = rows.T @ rows
    else:
        comoment[present] = np.add.reduceat(
            deviations[:, :, None] * deviations[:, None, :], starts, axis=0
        )
    return Moments(counts, mean, comoment, infinite)


def task_moments(side, replicates, start, stop):
    """Draw one task's points block by block and reduce them to the moments of
    its cells (see :func:`_standard_normal_blocks`).

    BLAS runs one thread here: parallelism comes from n_jobs alone, and a
    second BLAS thread made a d = 10 call slower (141 ms against 88 ms), more
    so on a busy machine.
    """
    total = None
    with single_threaded():
        n_cells = side.n_strata * len(replicates)
        for draws, strata, cells in _sample_blocks(side, replicates, start, stop):
            values = _integrand(side, draws, strata)
            moments = _block_moments(side, values, cells, n_cells)
            total = moments if total is None else total.merge(moments)
    return total


def _control_coefficients(moments, n_targets):
    """Least-squares coefficients of each integrand on the controls, per stratum.

    Returns the (K, n_controls, n_targets) coefficients and the number fitted
    per stratum (0 in strata too small to fit them).
    """
    n_controls = moments.mean.shape[1] - n_targets
    beta = np.zeros((moments.count.size, n_controls, n_targets))
    fitted = moments.count >= MIN_SAMPLES_PER_COEFFICIENT * (n_controls + 1)
    if n_controls and fitted.any():
        cov_cc = moments.comoment[fitted, n_targets:, n_targets:]
        cov_ch = moments.comoment[fitted, n_targets:, :n_targets]
        # Controls are solved for in units of their own spread: a distant
        # component's log-density can spread 1e7 times more than the others,
        # and would take their coefficients' accuracy with it.
        spread = np.sqrt(np.diagonal(cov_cc, axis1=1, axis2=2))
        spread[spread == 0] = 1.0
        correlation = cov_cc / spread[:, :, None] / spread[:, None, :]
        # pinv copes with collinear controls (e.g. a component shared by s and t).
        scaled = np.linalg.pinv(correlation) @ (cov_ch / spread[:, :, None])
        beta[fitted] = scaled / spread[:, :, None]
    return beta, n_controls * fitted


def _corrected_means(side, moments, beta):
    """Per-stratum estimates of E_{s_a}[h], shape (K, n_targets), after removing
    the control variates."""
    n_targets = side.n_targets
    if beta.shape[1] == 0:
        return moments.mean[:, :n_targets]
    return moments.mean[:, :n_targets] - np.einsum(
        "kc,kct->kt", moments.mean[:, n_targets:] - side.control_means, beta
    )


def _leave_one_out(replicates):
    """For each replicate, the merged moments of all the others: the merge of
    those before it with those after it, from running merges each way (3 R
    merges, not R^2)."""

    def running(moments):
        merged = [None]
        for m in moments[:-1]:
            merged.append(m if merged[-1] is None else merged[-1].merge(m))
        return merged

    before, after = running(replicates), running(replicates[::-1])[::-1]
    for head, tail in zip(before, after, strict=True):
        if head is None:
            yield tail
        elif tail is None:
            yield head
        else:
            yield head.merge(tail)


@dataclass(frozen=True, eq=False)
class SideEstimate:
    """The estimates of one side's integrands, with their uncertainty."""

    integrands: tuple
    estimate: np.ndarray  # (n_targets,)
    covariance: np.ndarray  # (n_targets, n_targets): sampling covariance
    rounding: np.ndarray  # (n_targets,): bound on the control means' rounding

    def subset(self, names):
        """(estimate, covariance, rounding) restricted to the integrands ``names``."""
        index = [self.integrands.index(name) for name in names]
        return (
            self.estimate[index],
            self.covariance[np.ix_(index, index)],
            self.rounding[index],
        )

    def value(self, integrand):
        """(estimate, standard error) of one integrand."""
        (estimate,), ((variance,),), (rounding,) = self.subset([integrand])
        return estimate, np.hypot(np.sqrt(variance), rounding)


def js_estimate(side_p, side_q):
    """(JS, standard error) from the two JS integrands of both sides.

    JS = 1/2 sum_s E_s[h_js + lam (h_js_marginal - h_js)] for any lam shared
    by the sides; lam minimises the estimated variance of that sum, a
    quadratic in lam, as a control variate's coefficient does.
    """
    names = ("js", "js_marginal")
    parts = [side.subset(names) for side in (side_p, side_q)]
    covariance = parts[0][1] + parts[1][1]
    spread = covariance[1, 1] - 2.0 * covariance[0, 1] + covariance[0, 0]
    lam = (covariance[0, 0] - covariance[0, 1]) / spread if spread > 0 else 1.0
    weights = np.array([1.0 - lam, lam])
    value = sum(weights @ estimate for estimate, _, _ in parts)
    rounding = sum(np.abs(weights) @ rounding for _, _, rounding in parts)
    std_error = np.hypot(np.sqrt(max(weights @ covariance @ weights, 0.0)), rounding)
    return 0.5 * value, 0.5 * std_error


def reduce_side(side, results):
    """Combine chunk moments, in chunk order, into a :class:`SideEstimate`.

    ``results`` is an iterable, consumed as it comes.
    """
    per_group = {}
    for (group, _, _), result in zip(side.chunks(), results, strict=True):
        previous = per_group.get(group)
        per_group[group] = result if previous is None else previous.merge(result)
    # Cell a * width + j of a group holds stratum a of its j-th replicate.
    replicates = [
        moments.take(slice(j, None, len(group)))
        for group, moments in per_group.items()
        for j in range(len(group))
    ]
    pooled = replicates[0]
    for moments in replicates[1:]:
        pooled = pooled.merge(moments)

    estimate, covariance, rounding = _reduce_moments(side, replicates, pooled)
    infinite = pooled.infinite
    estimate[infinite] = np.inf
    covariance[infinite, :] = covariance[:, infinite] = 0.0
    rounding[infinite] = 0.0
    return SideEstimate(side.integrands, estimate, covariance, rounding)


def _reduce_moments(side, replicates, pooled):
    """(estimates, sampling covariance, rounding bound) of the side's integrands."""
    n_targets = side.n_targets
    if side.method == "mc":
        n = pooled.count[0]
        covariance = pooled.comoment[0, :n_targets, :n_targets] / (n - 1) / n
        return pooled.mean[0, :n_targets].copy(), covariance, np.zeros(n_targets)

    weights = side.sampled.weights
    if side.method == "rqmc":
        # Each replicate's coefficients come from the other replicates, so
        # they are independent of its points: the replicates stay unbiased and
        # independent, and their spread stays an honest standard error.
        betas = [
            _control_coefficients(m, n_targets)[0] for m in _leave_one_out(replicates)
        ]
        estimates = np.array(
            [
                weights @ _corrected_means(side, moments, beta)
                for moments, beta in zip(replicates, betas, strict=True)
            ]
        )
        covariance = np.atleast_2d(np.cov(estimates.T, ddof=1)) / len(replicates)
        # The control means' rounding is shared by all replicates: no spread
        # shows it.
        rounding = _rounding_error(side, np.mean(np.abs(betas), axis=0))
        return estimates.mean(axis=0), covariance, rounding

    beta, n_coefficients = _control_coefficients(pooled, n_targets)

    # Stratified: residual covariance of h - beta . c within each stratum; for
    # least-squares beta, sum e_t e_t' = C_tt' - C_tc beta_t'.
    n = pooled.count
    comoment = pooled.comoment
    residual = comoment[:, :n_targets, :n_targets] - np.einsum(
        "ktc,kcu->ktu", comoment[:, :n_targets, n_targets:], beta
    )
    residual = 0.5 * (residual + residual.transpose(0, 2, 1))
    diagonal = np.arange(n_targets)
    residual[:, diagonal, diagonal] = np.maximum(residual[:, diagonal, diagonal], 0.0)
    degrees = np.maximum(n - 1 - n_coefficients, 1)
    covariance = np.einsum("k,ktu->tu", weights**2 / n / degrees, residual)
    estimate = weights @ _corrected_means(side, pooled, beta)
    return estimate, covariance, _rounding_error(side, np.abs(beta))


def _rounding_error(side, abs_beta):
    """Bound, per integrand, on the error that the control means' rounding
    puts into the estimate, given |beta| of shape (K, n_controls, n_targets).

    With ill-conditioned covariances it can exceed the sampling error, which
    then no longer says how good the estimate is.
    """
    if abs_beta.shape[1] == 0:
        return np.zeros(side.n_targets)
    return side.sampled.weights @ np.einsum(
        "kc,kct->kt", side.control_rounding, abs_beta
    )


def estimate_sides(sides, n_jobs):
    """Estimate every side in one parallel pass: one SideEstimate per side."""
    tasks = (
        delayed(task_moments)(side, *chunk) for side in sides for chunk in side.chunks()
    )
    results = _run_in_parts(tasks, sum(side.n_chunks for side in sides), n_jobs)
    # Each side takes its own chunks' results, in order, from the one stream.
    return [reduce_side(side, islice(results, side.n_chunks)) for side in sides]


def _run_in_parts(tasks, n_tasks, n_jobs):
    """Yield the results of ``tasks``, in order, run TASKS_PER_CALL at a time.

    Memory is bounded by one part's tasks and results, whatever n_samples is.
    """
    n_parts = -(-n_tasks // TASKS_PER_CALL)
    for part in range(1, n_parts + 1):
        label = "Monte Carlo" if n_parts == 1 else f"Monte Carlo {part}/{n_parts}"
        yield from run_tasks(
            list(islice(tasks, TASKS_PER_CALL)), n_jobs, label, "chunks"
        )
