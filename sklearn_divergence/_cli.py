"""Command line: ``python -m sklearn_divergence`` or ``sklearn-divergence``.

``demo`` runs the main job on the iris data; ``compare P.csv Q.csv`` fits a
mixture to each file and prints KL both ways, JS and the JS distance, each with
its Monte Carlo standard error, and on request bootstrap intervals and a
permutation test. Bad input gets a one-line message and exit status 2. A
progress bar goes to standard error on long runs, when it is a terminal.
"""

import argparse
import csv
import json
import sys
import warnings

import numpy as np
from sklearn.mixture import GaussianMixture

from ._config import config_context
from ._demo import run_demo
from ._divergence import METHODS
from ._estimator import GMMDivergence
from ._gaussian import COVARIANCE_TYPES
from ._permutation import divergence_test
from ._validation import unit_name

_ROWS = (
    ("kl", "KL(P‖Q)"),
    ("kl_reverse", "KL(Q‖P)"),
    ("js", "JS(P, Q)"),
    ("js_distance", "JS distance"),
)
_MIN_ROWS = 2


class InputError(Exception):
    """Bad command-line input, reported as one line and exit status 2."""


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_csv(path):
    """(data, column names or None) from a numeric CSV file.

    The first row is a header when any of its cells is not a number.
    """
    try:
        with open(path, newline="") as file:
            rows = [
                row for row in csv.reader(file) if any(cell.strip() for cell in row)
            ]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}") from error
    header = None
    if rows and not all(_is_number(cell) for cell in rows[0]):
        header, rows = rows[0], rows[1:]
    if len(rows) < _MIN_ROWS:
        raise InputError(
            f"{path} has {len(rows)} data row(s); at least {_MIN_ROWS} are needed."
        )
    width = len(header) if header is not None else len(rows[0])
    for line, row in enumerate(rows, start=2 if header is not None else 1):
        if len(row) != width:
            raise InputError(
                f"{path}, line {line}: {len(row)} columns where the file has {width}."
            )
        for column, cell in enumerate(row, start=1):
            if not _is_number(cell):
                raise InputError(
                    f"{path}, line {line}, column {column}: {cell.strip()!r} is not "
                    "a number; every column must be numeric."
                )
    data = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path} contains NaN or infinite values.")
    return data, header


def _estimator(n_components, covariance_type, random_state):
    """The density model for both files; None means the BIC-selected default."""
    if n_components == "auto":
        if covariance_type != "auto":
            raise InputError(
                "--covariance-type needs --n-components: with --n-components auto, "
                "BIC chooses both."
            )
        return None
    return GaussianMixture(
        n_components=n_components,
        covariance_type="full" if covariance_type == "auto" else covariance_type,
        random_state=random_state,
    )


def _integer_at_least(minimum, allow_auto=False):
    """An argparse type: an integer >= minimum (or 'auto' where allowed)."""
    expected = f"an integer >= {minimum}"
    if allow_auto:
        expected = f"'auto' or {expected}"

    def parse(text):
        if allow_auto and text == "auto":
            return text
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {expected}: {text}")
        return value

    return parse


def compare(args, out=sys.stdout):
    """Run ``compare`` on parsed arguments; raises InputError on bad input."""
    data_p, names_p = read_csv(args.p)
    data_q, names_q = read_csv(args.q)
    if data_p.shape[1] != data_q.shape[1]:
        raise InputError(
            f"{args.p} has {data_p.shape[1]} columns and {args.q} has "
            f"{data_q.shape[1]}; both files must have the same columns."
        )
    estimator = _estimator(args.n_components, args.covariance_type, args.random_state)
    if args.permutations is not None and not args.test:
        raise InputError("--permutations needs --test.")
    try:
        divergence = GMMDivergence(
            estimator,
            method=args.method,
            n_samples=args.n_samples,
            base=args.base,
            random_state=args.random_state,
            n_jobs=args.n_jobs,
            n_bootstrap=args.bootstrap,
        ).fit(data_p, data_q)
        test = None
        if args.test:
            test = divergence_test(
                data_p,
                data_q,
                estimator=estimator,
                n_permutations=args.permutations or 199,
                method=args.method,
                base=args.base,
                random_state=args.random_state,
                n_jobs=args.n_jobs,
            )
    except ValueError as error:
        raise InputError(str(error)) from error
    unit = unit_name(args.base)
    summary = divergence.summary()
    intervals = {name: getattr(divergence, f"{name}_ci_", None) for name, _ in _ROWS}
    if args.json:
        report = {
            name: {"value": value, "std_error": std_error}
            for name, (value, std_error) in summary.items()
        }
        for name, interval in intervals.items():
            if interval is not None:
                report[name]["ci"] = list(interval)
        report["unit"] = unit
        report["n_samples"] = args.n_samples
        report["std_error_covers"] = "Monte Carlo sampling only"
        if args.bootstrap:
            report["bootstrap"] = {
                "n_bootstrap": args.bootstrap,
                "confidence_level": divergence.confidence_level,
                "interval": "basic",
            }
        if test is not None:
            report["test"] = {
                "divergence": test.divergence,
                "statistic": test.statistic,
                "statistic_debiased": test.statistic_debiased,
                "pvalue": test.pvalue,
                "n_permutations": test.null_distribution.size,
            }
        report["models"] = {
            side: {
                "n_rows": int(data.shape[0]),
                "n_components": int(model.n_components),
                "covariance_type": model.covariance_type,
            }
            for side, data, model in (
                ("p", data_p, divergence.estimator_p_),
                ("q", data_q, divergence.estimator_q_),
            )
        }
        if names_p is not None or names_q is not None:
            report["columns"] = names_p or names_q
        json.dump(report, out, indent=2)
        out.write("\n")
        return
    for side, path, data, model in (
        ("P", args.p, data_p, divergence.estimator_p_),
        ("Q", args.q, data_q, divergence.estimator_q_),
    ):
        print(
            f"{side}: {path} ({data.shape[0]} rows, {data.shape[1]} columns): "
            f"GaussianMixture(n_components={model.n_components}, "
            f"covariance_type={model.covariance_type!r})",
            file=out,
        )
    level = f"{divergence.confidence_level:.0%} interval"
    header = f"{'divergence':<12} {'value':>12} {'std error':>10}"
    if args.bootstrap:
        header += f"  {level:>25}"
    print(f"{header}  ({unit})", file=out)
    for name, label in _ROWS:
        value, std_error = summary[name]
        line = f"{label:<12} {value:>12.6g} {std_error:>10.2g}"
        if args.bootstrap:
            low, high = intervals[name]
            line += f"  {f'[{low:.6g}, {high:.6g}]':>25}"
        print(line, file=out)
    print(
        "The standard errors cover only the Monte Carlo sampling of the fitted "
        "models, not the error of fitting them to the data.",
        file=out,
    )
    if args.bootstrap:
        print(
            f"The intervals come from {args.bootstrap} bootstrap refits of both "
            "models (basic intervals), and cover the fitting error too.",
            file=out,
        )
    if test is not None:
        print(
            f"Permutation test of JS ({test.null_distribution.size} permutations): "
            f"p-value = {test.pvalue:.4g}; JS = {test.statistic:.6g}, debiased "
            f"{test.statistic_debiased:.6g} ({unit}).",
            file=out,
        )


def _parser():
    parser = argparse.ArgumentParser(
        prog="sklearn-divergence",
        description="KL and Jensen-Shannon divergences between density models.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="divergences between mixtures fitted to iris species"
    )
    compare_parser = commands.add_parser(
        "compare",
        help="fit a Gaussian mixture to each of two CSV files and compare them",
        description="Fit a Gaussian mixture to each CSV file (numeric columns, "
        "optional header row) and print KL(P‖Q), KL(Q‖P), JS and the JS "
        "distance with their standard errors.",
    )
    compare_parser.add_argument("p", metavar="P.csv", help="the first data set")
    compare_parser.add_argument("q", metavar="Q.csv", help="the second data set")
    compare_parser.add_argument(
        "--n-components",
        type=_integer_at_least(1, allow_auto=True),
        default="auto",
        help="components per mixture, or 'auto' (default) to choose it and the "
        "covariance type by BIC",
    )
    compare_parser.add_argument(
        "--covariance-type",
        choices=("auto", *COVARIANCE_TYPES),
        default="auto",
        help="with --n-components; 'auto' means 'full' then (default: auto)",
    )
    compare_parser.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        metavar="METHOD",
        help=f"one of {', '.join(METHODS)} (default: auto)",
    )
    compare_parser.add_argument(
        "--base",
        type=float,
        default=None,
        help="logarithm base: 2 for bits (default: nats)",
    )
    compare_parser.add_argument(
        "--bootstrap",
        type=_integer_at_least(0),
        default=0,
        metavar="N",
        help="add 95%% bootstrap intervals from N refits of both models, which "
        "cover the fitting error (default: 0, none)",
    )
    compare_parser.add_argument(
        "--test",
        action="store_true",
        help="run a permutation test of JS: the p-value that both files come "
        "from one distribution (20000 Monte Carlo points per model and split)",
    )
    compare_parser.add_argument(
        "--permutations",
        type=_integer_at_least(1),
        default=None,
        metavar="N",
        help="with --test: random splits of the pooled rows (default: 199)",
    )
    compare_parser.add_argument("--json", action="store_true", help="print JSON")
    for sub in (demo, compare_parser):
        sub.add_argument(
            "--n-samples",
            type=int,
            default=100_000,
            help="points drawn per side (default: 100000)",
        )
        sub.add_argument(
            "--random-state",
            type=int,
            default=0,
            help="seed, for reproducible results (default: 0)",
        )
        sub.add_argument(
            "--n-jobs",
            type=int,
            default=None,
            help="parallel jobs; -1 for all processors (default: 1)",
        )
    return parser


def main(argv=None):
    """Entry point of ``python -m sklearn_divergence`` and ``sklearn-divergence``."""
    args = _parser().parse_args(argv)
    # The progress bar goes to standard error, and only to a terminal.
    with config_context(show_progress=sys.stderr.isatty()):
        if args.command == "demo":
            run_demo(
                n_samples=args.n_samples,
                random_state=args.random_state,
                n_jobs=args.n_jobs,
            )
            return 0
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                compare(args)
        except InputError as error:
            print(f"sklearn-divergence compare: error: {error}", file=sys.stderr)
            return 2
        for warning in caught:
            print(
                f"sklearn-divergence compare: warning: {warning.message}",
                file=sys.stderr,
            )
    return 0
