"""Real data: size and power of divergence_test against the tests users know, and time.

Data sets that ship with scikit-learn, with known differences planted in
them. Each repeat draws two disjoint parts of one data set (same-source
splits for the size), plants the difference in the second part, and runs on
the same two parts:

- ``divergence_test`` with its defaults (default model, ``n_permutations``
  below);
- the energy-distance permutation test of ``dcor`` (Szekely & Rizzo, 2004);
- ``hyppo``'s k-sample MMD test with its Gaussian kernel (median
  heuristic; Gretton et al., 2012);
- classifier two-sample tests (Lopez-Paz & Oquab, 2017): 5-fold
  cross-validated accuracy of a LogisticRegression, and 3-fold of a
  HistGradientBoostingClassifier, each with a permutation p-value over
  label shuffles (written here, sharing no code with the package);
- per-feature Kolmogorov-Smirnov tests with a Bonferroni correction.

The peers run on the data as given ("raw") and, in the cells marked
"standardised", on features standardised with the pooled parts' mean and
spread; ``divergence_test`` standardises on the pooled rows itself, so the
two give it the same data up to an affine map.

``--timing`` measures, in one run, one ``GaussianMixture(4)`` fit on one
side, the default ``GMMDivergence`` fit and ``divergence_test`` with 199
permutations at 100 000 rows per side (d = 10), the issue's speed targets,
and ``GMMDivergence`` at 10**6 rows per side with its peak memory; with the
linear-time MMD of Gretton et al. (2012, section 6), written here, beside.

Results are saved under benchmarks/.realdata/ (not committed); the report is
benchmarks/realdata.md::

    python benchmarks/bench_realdata.py --workers 2   # size and power
    python benchmarks/bench_realdata.py --timing      # the speed targets
    python benchmarks/bench_realdata.py --report      # write realdata.md

Peers come from the ``bench`` extra: ``pip install ".[bench]"``.
"""

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_divergence import GMMDivergence, divergence_test

HERE = Path(__file__).resolve().parent
RESULTS = HERE / ".realdata"
REPORT = HERE / "realdata.md"
ALPHA = 0.05
LOG_2 = math.log(2.0)
PEERS = ("energy", "mmd", "c2st_logistic", "c2st_boosting", "ks_bonferroni")


@dataclass(frozen=True)
class Cell:
    """One data set, part size and planted difference."""

    name: str
    data: str  # 'iris', 'wine', 'cancer5', 'cancer30' or 'digits3v8'
    n: int  # rows per part
    change: str  # 'none', 'shift', 'scale', 'correlation', 'proportions', 'class'
    standardised: bool = False


def _load(data):
    if data == "iris":
        return load_iris(return_X_y=True)
    if data == "wine":
        return load_wine(return_X_y=True)
    if data.startswith("cancer"):
        X, y = load_breast_cancer(return_X_y=True)
        # Benign tumours; 'cancer5' keeps the first five features.
        X = X[y == 1]
        return (X[:, :5] if data == "cancer5" else X), np.zeros(len(X), int)
    X, y = load_digits(return_X_y=True)
    return X[np.isin(y, (3, 8))], y[np.isin(y, (3, 8))]


CELLS = (
    # Same-source splits: the size.
    Cell("iris, same source", "iris", 60, "none"),
    Cell("wine, same source", "wine", 80, "none"),
    Cell("cancer 5 features, same source", "cancer5", 80, "none"),
    Cell("cancer 30 features, same source", "cancer30", 150, "none"),
    Cell("digits 3, same source", "digits3v8", 80, "none"),
    # Planted differences: the power.
    Cell("cancer 5: 0.5 SD shift in texture", "cancer5", 80, "shift"),
    Cell(
        "cancer 5: 0.5 SD shift in texture, standardised", "cancer5", 80, "shift", True
    ),
    Cell(
        "cancer 30: 0.4 SD shift in the three texture features",
        "cancer30",
        150,
        "shift",
    ),
    Cell("cancer 5: x1.5 scale of texture", "cancer5", 80, "scale"),
    Cell("wine: correlation of two features changed", "wine", 80, "correlation"),
    Cell(
        "iris: class proportions 1/3 each against 3/5, 1/5, 1/5",
        "iris",
        60,
        "proportions",
    ),
    Cell("digits 3 against 8", "digits3v8", 40, "class"),
)


def make_parts(cell, repeat):
    """The two parts of one repeat, with the difference planted in the second."""
    # The same parts for cells that differ only in how the peers see them.
    key = f"{cell.data}-{cell.n}-{cell.change}"
    rng = np.random.default_rng([zlib.crc32(key.encode()), repeat])
    X, y = _load(cell.data)
    X = X.astype(np.float64)
    if cell.change == "class":
        threes, eights = np.flatnonzero(y == 3), np.flatnonzero(y == 8)
        return (
            X[rng.choice(threes, cell.n, replace=False)],
            X[rng.choice(eights, cell.n, replace=False)],
        )
    if cell.data == "digits3v8":
        X = X[y == 3]
    if cell.change == "proportions":
        per_class = [rng.permutation(np.flatnonzero(y == k)) for k in range(3)]
        first = np.concatenate([rows[:20] for rows in per_class])
        counts = (36, 12, 12)
        second = np.concatenate(
            [rows[20 : 20 + c] for rows, c in zip(per_class, counts, strict=True)]
        )
        return X[first], X[second]
    order = rng.permutation(len(X))
    A, B = X[order[: cell.n]], X[order[cell.n : 2 * cell.n]].copy()
    spread = X.std(axis=0)
    if cell.change == "shift":
        # Texture, which no other feature determines: a shift in radius
        # alone would also break its near-exact relation with perimeter.
        features = (1,) if cell.data == "cancer5" else (1, 11, 21)
        size = 0.5 if cell.data == "cancer5" else 0.4
        for j in features:
            B[:, j] += size * spread[j]
    elif cell.change == "scale":
        B[:, 1] = X[:, 1].mean() + 1.5 * (B[:, 1] - X[:, 1].mean())
    elif cell.change == "correlation":
        # Alcohol and colour intensity: mix the standardised pair by a
        # rotation, which keeps both marginal spreads but changes their
        # correlation.
        i, j = 0, 9
        z = (B[:, [i, j]] - X[:, [i, j]].mean(axis=0)) / spread[[i, j]]
        angle = 0.6
        rotation = np.array(
            [[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]]
        )
        B[:, [i, j]] = X[:, [i, j]].mean(axis=0) + (z @ rotation) * spread[[i, j]]
    return A, B


# --- peers, written here or called from their packages -------------------------


def energy_pvalue(A, B, n_permutations, seed):
    import dcor

    return float(
        dcor.homogeneity.energy_test(
            A, B, num_resamples=n_permutations, random_state=seed
        ).pvalue
    )


def mmd_pvalue(A, B, n_permutations, seed):
    from hyppo.ksample import MMD

    return float(
        MMD().test(A, B, reps=n_permutations, auto=False, random_state=seed)[1]
    )


def c2st_pvalue(A, B, classifier, folds, n_permutations, seed):
    """Cross-validated accuracy of telling A from B, against label shuffles."""
    X = np.vstack([A, B])
    labels = np.r_[np.zeros(len(A), int), np.ones(len(B), int)]
    rng = np.random.default_rng(seed)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)

    def accuracy(y):
        return cross_val_score(classifier, X, y, cv=cv).mean()

    observed = accuracy(labels)
    null = [accuracy(rng.permutation(labels)) for _ in range(n_permutations)]
    return (1 + sum(value >= observed for value in null)) / (1 + n_permutations)


def ks_bonferroni_pvalue(A, B):
    pvalues = [stats.ks_2samp(A[:, j], B[:, j]).pvalue for j in range(A.shape[1])]
    return min(1.0, A.shape[1] * min(pvalues))


def linear_time_mmd_pvalue(A, B):
    """Gretton et al.'s (2012) linear-time MMD with a median-heuristic bandwidth."""
    m = min(len(A), len(B)) // 2 * 2
    x1, x2, y1, y2 = A[0:m:2], A[1:m:2], B[0:m:2], B[1:m:2]
    pilot = np.vstack([A[:500], B[:500]])
    squared = ((pilot[:, None, :] - pilot[None, :, :]) ** 2).sum(-1)
    bandwidth2 = np.median(squared[squared > 0])

    def k(u, v):
        return np.exp(-((u - v) ** 2).sum(axis=1) / bandwidth2)

    h = k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)
    z = h.mean() / (h.std(ddof=1) / math.sqrt(len(h)))
    return float(stats.norm.sf(z))


# --- one repeat -------------------------------------------------------------------


def _standardised(A, B):
    pooled = np.vstack([A, B])
    center, scale = pooled.mean(axis=0), pooled.std(axis=0)
    scale[scale == 0] = 1.0
    return (A - center) / scale, (B - center) / scale


def run_repeat(cell, repeat, settings):
    A, B = make_parts(cell, repeat)
    seed = 1000 * repeat + 7
    out = {}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = divergence_test(
            A, B, n_permutations=settings["permutations"], random_state=seed
        )
    out["ours"] = {
        "pvalue": result.pvalue,
        "statistic": result.statistic,
        "null_median": float(np.median(result.null_distribution)),
        "dimensions": result.data_space.n_dimensions,
        "views": result.pvalues_by_view,
        "model": f"{result.estimator_p.n_components} "
        f"{result.estimator_p.covariance_type}",
        "seconds": time.perf_counter() - start,
    }
    PA, PB = _standardised(A, B) if cell.standardised else (A, B)
    boosting = HistGradientBoostingClassifier(max_iter=30, random_state=0)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    peers = {
        "energy": lambda: energy_pvalue(PA, PB, settings["permutations"], seed),
        "mmd": lambda: mmd_pvalue(PA, PB, settings["permutations"], seed),
        "c2st_logistic": lambda: c2st_pvalue(
            PA, PB, logistic, 5, settings["c2st_permutations"], seed
        ),
        "c2st_boosting": lambda: c2st_pvalue(
            PA, PB, boosting, 3, settings["boosting_permutations"], seed
        ),
        "ks_bonferroni": lambda: ks_bonferroni_pvalue(PA, PB),
    }
    for name, run in peers.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pvalue = run()
        out[name] = {"pvalue": pvalue, "seconds": time.perf_counter() - start}
    return out


def _path(cell, repeat):
    slug = "".join(c if c.isalnum() else "_" for c in cell.name)
    return RESULTS / f"{slug}-{repeat}.json"


def _job(cell, repeat, settings):
    path = _path(cell, repeat)
    if path.exists():
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    path.write_text(json.dumps(run_repeat(cell, repeat, settings)))


def run_statistics(settings, workers):
    RESULTS.mkdir(exist_ok=True)
    jobs = [(cell, repeat) for cell in CELLS for repeat in range(settings["repeats"])]
    Parallel(n_jobs=workers, verbose=5)(
        delayed(_job)(cell, repeat, settings) for cell, repeat in jobs
    )
    (RESULTS / "settings.json").write_text(json.dumps(settings))


# --- interval coverage, on simulated data with a known truth ---------------------

COVERAGE_CELLS = tuple(
    (d, n, target) for d in (2, 5) for n in (500, 1_000) for target in (0.05, 0.2)
)


def coverage_job(d, n, target, repeat, settings):
    """One bootstrap interval of bench_uncertainty's simulated pair, or of uniforms."""
    if d == "uniform":
        # P = U(0, 1), Q = U(0.5, 1.5): exact JS = log(2) / 2.
        rng = np.random.default_rng([7, repeat])
        X, Y = rng.uniform(0, 1, (n, 1)), rng.uniform(0.5, 1.5, (n, 1))
        truth = LOG_2 / 2
    else:
        import bench_uncertainty as simulated

        shift = simulated.shift_for(target)
        X, Y = simulated.make_data(d, n, target, repeat, shift)
        truth = simulated.true_divergences(shift)["js"]
    divergence = GMMDivergence(
        n_samples=settings["coverage_samples"],
        n_bootstrap=settings["bootstrap"],
        random_state=repeat,
    ).fit(X, Y)
    low, high = divergence.js_ci_
    return {
        "truth": truth,
        "js": divergence.js_,
        "debiased": divergence.js_debiased_,
        "ci": [low, high],
        "covered": bool(low <= truth <= high),
    }


def _coverage_path(d, n, target, repeat):
    return RESULTS / f"coverage-{d}-{n}-{target}-{repeat}.json"


def _coverage_cell_job(d, n, target, repeat, settings):
    path = _coverage_path(d, n, target, repeat)
    if not path.exists():
        sys.path.insert(0, str(HERE))
        path.write_text(json.dumps(coverage_job(d, n, target, repeat, settings)))


def run_coverage(settings, workers):
    RESULTS.mkdir(exist_ok=True)
    cells = [*COVERAGE_CELLS, ("uniform", 2_000, LOG_2 / 2)]
    Parallel(n_jobs=workers, verbose=5)(
        delayed(_coverage_cell_job)(d, n, target, repeat, settings)
        for d, n, target in cells
        for repeat in range(
            settings["uniform_repeats"] if d == "uniform" else settings["repeats"]
        )
    )
    (RESULTS / "coverage-settings.json").write_text(json.dumps(settings))


def _coverage_lines():
    settings_path = RESULTS / "coverage-settings.json"
    if not settings_path.exists():
        return []
    settings = json.loads(settings_path.read_text())
    lines = [
        "",
        "## Coverage of the bootstrap intervals of JS",
        "",
        f"`GMMDivergence(n_bootstrap={settings['bootstrap']})` with its default "
        "model, 95% basic intervals, on `bench_uncertainty.py`'s simulated pairs "
        "(two-component first coordinate, shifted; true JS by quadrature) and on "
        "two overlapping uniforms, U(0, 1) against U(0.5, 1.5), exact JS = ln 2 / 2 "
        f"= {LOG_2 / 2:.4f} nats. {settings['coverage_samples']} Monte Carlo "
        "points per side.",
        "",
        "<!-- coverage -->",
        "| data | n per side | true JS | repeats | coverage | median js_ "
        "| median js_debiased_ | bias-corrected inside its interval |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cells = [*COVERAGE_CELLS, ("uniform", 2_000, LOG_2 / 2)]
    for d, n, target in cells:
        repeats = settings["uniform_repeats"] if d == "uniform" else settings["repeats"]
        runs = [
            json.loads(_coverage_path(d, n, target, r).read_text())
            for r in range(repeats)
            if _coverage_path(d, n, target, r).exists()
        ]
        if not runs:
            continue
        inside = all(r["ci"][0] <= r["debiased"] <= r["ci"][1] for r in runs)
        label = "uniforms, 1-D" if d == "uniform" else f"simulated, d = {d}"
        lines.append(
            f"| {label} | {n} | {runs[0]['truth']:.4f} | {len(runs)} | "
            f"{np.mean([r['covered'] for r in runs]):.2f} | "
            f"{np.median([r['js'] for r in runs]):.4f} | "
            f"{np.median([r['debiased'] for r in runs]):.4f} | "
            f"{'yes' if inside else 'no'} |"
        )
    lines += ["<!-- /coverage -->"]
    return lines


# --- speed at scale ---------------------------------------------------------------


def _scale_data(n, seed, shift=0.0):
    """Four clusters in 10 dimensions, one fixed structure, ``shift`` in feature 0."""
    structure = np.random.default_rng(99)
    centres = structure.normal(0.0, 3.0, (4, 10))
    scales = structure.uniform(0.5, 2.0, 10)
    rng = np.random.default_rng(seed)
    X = centres[rng.integers(0, 4, n)] + rng.normal(size=(n, 10)) * scales
    X[:, 0] += shift
    return X


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _million_rows():
    """GMMDivergence at 10**6 rows per side, in a process of its own for its peak."""
    A, B = _scale_data(10**6, 1), _scale_data(10**6, 2, shift=0.05)
    before = _peak_mib()
    divergence, seconds = _timed(lambda: GMMDivergence(random_state=0).fit(A, B))
    peak = _peak_mib()
    result, test_seconds = _timed(
        lambda: divergence_test(A, B, n_permutations=199, random_state=0, n_jobs=2)
    )
    summary = {
        "seconds": seconds,
        "peak_mib": peak,
        "data_mib": before,
        "js": divergence.js_,
        "test_seconds": test_seconds,
        "test_peak_mib": _peak_mib(),
        "test_pvalue": result.pvalue,
    }
    print(json.dumps(summary))


def run_timing(quick):
    n = 10_000 if quick else 100_000
    A, B = _scale_data(n, 1), _scale_data(n, 2, shift=0.05)
    timing = {"rows": n, "uptime": _uptime()}
    _, timing["one_fit"] = _timed(lambda: GaussianMixture(4, random_state=0).fit(A))
    _, timing["gmm_divergence"] = _timed(
        lambda: GMMDivergence(random_state=0).fit(A, B)
    )
    permutations = 19 if quick else 199
    result, timing["test"] = _timed(
        lambda: divergence_test(
            A, B, n_permutations=permutations, random_state=0, n_jobs=2
        )
    )
    timing["test_permutations"] = permutations
    timing["test_pvalue"] = result.pvalue
    timing["test_null_std"] = float(np.std(result.null_distribution))
    timing["linear_mmd_pvalue"], timing["linear_mmd"] = _timed(
        lambda: linear_time_mmd_pvalue(A, B)
    )
    if not quick:
        output = subprocess.run(
            [sys.executable, __file__, "--million"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        timing["million"] = json.loads(output.strip().splitlines()[-1])
    timing["uptime_after"] = _uptime()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "timing.json").write_text(json.dumps(timing))
    print(json.dumps(timing, indent=1))


def _uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# --- report -----------------------------------------------------------------------


def _rate(pvalues):
    return float(np.mean(np.asarray(pvalues) <= ALPHA))


def render(note=None):
    settings = json.loads((RESULTS / "settings.json").read_text())
    rows = {cell: [] for cell in CELLS}
    for cell in CELLS:
        for repeat in range(settings["repeats"]):
            path = _path(cell, repeat)
            if path.exists():
                rows[cell].append(json.loads(path.read_text()))
    methods = ("ours", *PEERS)
    header = "| cell | n | " + " | ".join(methods) + " | target met |"
    rule = "|---" * (len(methods) + 3) + "|"

    def rates(cell):
        return {m: _rate([r[m]["pvalue"] for r in rows[cell]]) for m in methods}

    lines = [
        "# Real data: size, power and time of divergence_test",
        "",
        f"Generated by `bench_realdata.py` on {datetime.date.today()}, "
        f"{platform.machine()}, {os.cpu_count()} cores; Python "
        f"{platform.python_version()}, numpy {np.__version__}.",
        f"{settings['repeats']} repeats per cell, 2 workers. Our test: "
        "`divergence_test` with its defaults and "
        f"{settings['permutations']} permutations; energy (dcor) and MMD (hyppo) "
        f"with {settings['permutations']}; the classifier tests with "
        f"{settings['c2st_permutations']} (logistic) and "
        f"{settings['boosting_permutations']} (boosting) label shuffles.",
        "Rejection rates at alpha = 0.05.",
        *([note] if note else []),
        "",
        "## Size on same-source splits",
        "",
        header.replace(" target met |", " largest JS / ln 2 |"),
        rule,
    ]
    pooled = []
    for cell in (c for c in CELLS if c.change == "none"):
        rate = rates(cell)
        pooled.extend(r["ours"]["pvalue"] <= ALPHA for r in rows[cell])
        largest = max(r["ours"]["statistic"] for r in rows[cell]) / LOG_2
        lines.append(
            f"| {cell.name} | {cell.n} | "
            + " | ".join(f"{rate[m]:.2f}" for m in methods)
            + f" | {largest:.2f} |"
        )
    size = float(np.mean(pooled))
    lines += [
        "",
        f"Pooled size of our test: **{size:.3f}** over {len(pooled)} splits "
        "(target: in [0.03, 0.07]). Largest same-source statistic relative to "
        "ln 2 in the last column (target: below 0.9).",
        "",
        "## Power against planted differences",
        "",
        "<!-- power -->",
        "A cell meets the target when our power is at least the best peer's "
        "minus 0.05; it fails badly when below half of it.",
        "",
        header,
        rule,
    ]
    met, bad, total = 0, 0, 0
    for cell in (c for c in CELLS if c.change != "none"):
        rate = rates(cell)
        best = max(rate[m] for m in PEERS)
        total += 1
        ok = rate["ours"] >= best - 0.05
        met += ok
        bad += rate["ours"] < best / 2
        name = cell.name + (" (peers standardised)" if cell.standardised else "")
        lines.append(
            f"| {name} | {cell.n} | "
            + " | ".join(f"{rate[m]:.2f}" for m in methods)
            + f" | {'yes' if ok else 'no'} |"
        )
    lines += [
        "",
        f"Target met in **{met} of {total}** cells (target: at least 80%); below "
        f"half the best peer in **{bad}** (target: none).",
        "<!-- /power -->",
        "",
        "## Time per test (median seconds, same rows)",
        "",
        "| cell | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 1) + "|",
    ]
    for cell in CELLS:
        lines.append(
            f"| {cell.name} | "
            + " | ".join(
                f"{np.median([r[m]['seconds'] for r in rows[cell]]):.2f}"
                for m in methods
            )
            + " |"
        )
    lines += [
        "",
        "## Our model and dimension, per cell",
        "",
        "| cell | coordinates used (most common) | model (most common) | "
        "median JS | median null JS |",
        "|---|---|---|---|---|",
    ]
    for cell in CELLS:
        dims = [r["ours"]["dimensions"] for r in rows[cell]]
        models = [r["ours"]["model"] for r in rows[cell]]
        lines.append(
            f"| {cell.name} | {max(set(dims), key=dims.count)} | "
            f"{max(set(models), key=models.count)} | "
            f"{np.median([r['ours']['statistic'] for r in rows[cell]]):.4f} | "
            f"{np.median([r['ours']['null_median'] for r in rows[cell]]):.4f} |"
        )
    lines += _coverage_lines()
    timing_path = RESULTS / "timing.json"
    if timing_path.exists():
        t = json.loads(timing_path.read_text())
        fit = t["one_fit"]
        lines += [
            "",
            f"## Speed at {t['rows']:,} rows per side, d = 10",
            "",
            f"In one run (`uptime` before: {t['uptime']}; after: {t['uptime_after']}).",
            "",
            "| call | seconds | multiple of one fit | target |",
            "|---|---|---|---|",
            f"| one `GaussianMixture(4)` fit on one side | {fit:.2f} | 1 | |",
            f"| default `GMMDivergence` fit | {t['gmm_divergence']:.2f} | "
            f"{t['gmm_divergence'] / fit:.1f} | 3 |",
            f"| `divergence_test`, {t['test_permutations']} permutations, n_jobs=2 "
            f"| {t['test']:.2f} | {t['test'] / fit:.1f} | 20 |",
            f"| linear-time MMD (written here) | {t['linear_mmd']:.3f} | "
            f"{t['linear_mmd'] / fit:.2f} | |",
            "",
            f"A shift of 0.05 in one of the 10 features: `divergence_test` gave "
            f"p = {t['test_pvalue']:.3f}, the linear-time MMD p = "
            f"{t['linear_mmd_pvalue']:.3f}. The test's null distribution (the "
            f"'mixture' view's JS) had a standard deviation of "
            f"{t['test_null_std']:.2g} nats.",
        ]
        if "million" in t:
            m = t["million"]
            lines += [
                "",
                f"At 10^6 rows per side, d = 10: the default `GMMDivergence` fit "
                f"took {m['seconds']:.1f} s, with a peak resident memory of "
                f"{m['peak_mib']:.0f} MiB, of which {m['data_mib']:.0f} MiB "
                "before the call (the two data sets and the interpreter); "
                "`divergence_test` with 199 permutations and n_jobs=2 took "
                f"{m['test_seconds']:.1f} s (p = {m['test_pvalue']:.3f}), the "
                f"main process peaking at {m['test_peak_mib']:.0f} MiB (its two "
                "worker processes read the pooled rows from a shared memory "
                "map).",
            ]
    REPORT.write_text("\n".join(lines) + "\n")
    print(REPORT.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--permutations", type=int, default=99)
    parser.add_argument("--c2st-permutations", type=int, default=49)
    parser.add_argument("--boosting-permutations", type=int, default=19)
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smaller timing run")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--note", help="a sentence on the run, for the report")
    parser.add_argument("--coverage", action="store_true", help="interval coverage")
    parser.add_argument("--bootstrap", type=int, default=99)
    parser.add_argument("--coverage-samples", type=int, default=8192)
    parser.add_argument("--uniform-repeats", type=int, default=12)
    parser.add_argument("--million", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.million:
        _million_rows()
    elif args.timing:
        run_timing(args.quick)
    elif args.report:
        render(args.note)
    elif args.coverage:
        run_coverage(
            {
                "repeats": args.repeats,
                "bootstrap": args.bootstrap,
                "coverage_samples": args.coverage_samples,
                "uniform_repeats": args.uniform_repeats,
            },
            args.workers,
        )
    else:
        run_statistics(
            {
                "repeats": args.repeats,
                "permutations": args.permutations,
                "c2st_permutations": args.c2st_permutations,
                "boosting_permutations": args.boosting_permutations,
            },
            args.workers,
        )


if __name__ == "__main__":
    main()
