"""Peak memory and time of bounds, approximations and Monte Carlo on large mixtures.

Issue 11: ``kl_bounds`` and the deterministic approximations on a 20,000-point
``KernelDensity`` allocated 9.3 GB and died. Each (case, function) pair runs
in a fresh subprocess, with BLAS limited to one thread and n_jobs=1, which
reports the peak of tracemalloc (Python and numpy allocations during the
call), its own ru_maxrss before and after the call, and the wall time. It
writes benchmarks/memory.md::

    python benchmarks/bench_memory.py             # full run
    python benchmarks/bench_memory.py --quick     # the 5,000-point case only
    # Also measure another checkout of the package, e.g. the one before:
    #   git archive 6925640 sklearn_divergence | tar -x -C /tmp/before
    python benchmarks/bench_memory.py --baseline /tmp/before \
        --baseline-label "6925640, before the blocks"
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from bench_montecarlo import make_mixture, uptime
from sklearn.neighbors import KernelDensity
from threadpoolctl import threadpool_limits

from sklearn_divergence import js_bounds, js_divergence, kl_bounds, kl_divergence

N_SAMPLES = 100_000
# A run that needs more address space than this fails with MemoryError
# instead of taking the machine down; the package needs far less.
MEMORY_LIMIT_GIB = 8
TIMEOUT_S = 1800


def _kde_case(n_points):
    def build():
        rng = np.random.default_rng(n_points)
        X = rng.normal(size=(n_points, 2)) + np.array([1.0, 0.0])
        kde = KernelDensity(bandwidth=0.3).fit(X)
        return kde, make_mixture(np.random.default_rng(1), 8, 2, "full")

    return {
        "description": f"KernelDensity of {n_points:,} points (d = 2, "
        "bandwidth 0.3) vs GaussianMixture K = 8 'full'",
        "build": build,
    }


def _mixtures():
    return (
        make_mixture(np.random.default_rng(1), 500, 10, "full"),
        make_mixture(np.random.default_rng(2), 500, 10, "full"),
    )


CASES = {
    "kde-5000": _kde_case(5_000),
    "kde-20000": _kde_case(20_000),
    "gmm-500": {
        "description": "GaussianMixture K = 500 vs K = 500, 'full', d = 10",
        "build": _mixtures,
    },
}
QUICK_CASES = ("kde-5000",)

FUNCTIONS = {
    "kl_bounds": ("kl_bounds(p, q)", lambda p, q, n: kl_bounds(p, q)),
    "js_bounds": ("js_bounds(p, q)", lambda p, q, n: js_bounds(p, q)),
    "kl_variational": (
        "kl_divergence(p, q, method='variational')",
        lambda p, q, n: kl_divergence(p, q, method="variational"),
    ),
    "kl_default": (
        "kl_divergence(p, q)",
        lambda p, q, n: kl_divergence(p, q, n_samples=n, random_state=0),
    ),
    "js_default": (
        "js_divergence(p, q)",
        lambda p, q, n: js_divergence(p, q, n_samples=n, random_state=0),
    ),
}


def _max_rss_mib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(case, function, n_samples):
    """In the subprocess: one call, measured; prints one JSON line."""
    limit = MEMORY_LIMIT_GIB * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    p, q = CASES[case]["build"]()
    call = FUNCTIONS[function][1]
    result = {"rss_before": _max_rss_mib()}
    with threadpool_limits(1):
        tracemalloc.start()
        start = time.perf_counter()
        try:
            value = call(p, q, n_samples)
            result["value"] = np.ravel(value).tolist()
        except MemoryError:
            result["error"] = f"MemoryError at the {MEMORY_LIMIT_GIB} GiB limit"
        result["seconds"] = time.perf_counter() - start
        result["peak"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    result["rss_after"] = _max_rss_mib()
    print(json.dumps(result))


def measure(case, function, n_samples, package_path=None):
    """Run one (case, function) in a fresh interpreter; its JSON result."""
    env = dict(os.environ)
    if package_path is not None:
        paths = [str(package_path), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(paths)
    command = [sys.executable, __file__, "--worker", case, function, str(n_samples)]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT_S} s"}
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit code {done.returncode}: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _value(result):
    if "error" in result:
        return result["error"]
    return ", ".join(f"{v:.6g}" for v in result["value"])


def _cells(result):
    if "error" in result:
        return [result["error"], "n/a"]
    return [f"{result['peak']:.1f}", f"{result['seconds']:.2f}"]


def render(rows, n_samples, baseline, baseline_label, uptimes, elapsed, quick):
    lines = [
        "# Peak memory on large mixtures",
        "",
        "Generated by `benchmarks/bench_memory.py`; do not edit by hand.",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"total run time {elapsed:.0f} s; BLAS limited to one thread, n_jobs=1",
        f"- machine: {os.cpu_count()} CPUs ({platform.machine()}, "
        f"{platform.system()}), Python {platform.python_version()}",
        f"- load (`uptime`) before: `{uptimes[0]}`",
        f"- load (`uptime`) after: `{uptimes[1]}`",
        "- *peak*: the tracemalloc peak during the call (Python and numpy "
        "allocations); *RSS*: the subprocess's ru_maxrss before the call "
        "(interpreter, imports, models) and after it; *seconds*: wall time "
        "of the call, under tracemalloc. Each call runs in a fresh subprocess, "
        f"with its address space limited to {MEMORY_LIMIT_GIB} GiB.",
        "- Monte Carlo calls (`kl_divergence(p, q)`, `js_divergence(p, q)`: "
        f"method='auto', random_state=0) use n_samples={n_samples:,} "
        "(the default).",
        "- `js_bounds` on the KDEs: M = (P + Q) / 2 has K_p + K_q components, "
        "beyond the 2**23 pairs up to which the variational refinement (four "
        "matrices over all pairs) is used, so the upper bound is the Jensen one "
        "alone, here log 2.",
    ]
    if baseline is not None:
        described = f", {baseline_label}" if baseline_label else ""
        lines.append(
            f"- *before*: the same calls on the package at `{baseline}`{described}."
        )
    if quick:
        lines += ["", "**Smoke run (`--quick`)**."]
    lines += ["", "Cases:", ""]
    lines += [
        f"- {name}: {case['description']}"
        for name, case in CASES.items()
        if any(row[0] == name for row in rows)
    ]
    header = "| case | function | peak (MiB) | seconds | RSS before / after (MiB) "
    header += "| value |"
    rule = "|---|---|--:|--:|--:|---|"
    if baseline is not None:
        header += " before: peak (MiB) | before: seconds | before: value |"
        rule += "--:|--:|---|"
    lines += ["", header, rule]
    for case, function, result, before in rows:
        rss = (
            "n/a"
            if "rss_after" not in result
            else f"{result['rss_before']:.0f} / {result['rss_after']:.0f}"
        )
        cells = [case, f"`{FUNCTIONS[function][0]}`", *_cells(result), rss]
        cells.append(_value(result))
        if baseline is not None:
            cells += [*_cells(before), _value(before)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smallest case")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a directory holding another sklearn_divergence package to compare",
    )
    parser.add_argument("--baseline-label", help="what the baseline is, for the report")
    parser.add_argument("--n-samples", type=int, default=N_SAMPLES)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        case, function, n_samples = args.worker
        run_worker(case, function, int(n_samples))
        return

    start = time.perf_counter()
    uptime_before = uptime()
    rows = []
    for case in QUICK_CASES if args.quick else CASES:
        for function in FUNCTIONS:
            result = measure(case, function, args.n_samples)
            before = (
                None
                if args.baseline is None
                else measure(case, function, args.n_samples, args.baseline)
            )
            rows.append((case, function, result, before))
            print(case, function, result, before, flush=True)
    report = render(
        rows,
        args.n_samples,
        args.baseline,
        args.baseline_label,
        (uptime_before, uptime()),
        time.perf_counter() - start,
        args.quick,
    )
    Path(__file__).with_name("memory.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
