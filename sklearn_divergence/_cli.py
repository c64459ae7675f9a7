"""Command line: ``python -m sklearn_divergence`` or ``sklearn-divergence``.

``demo`` runs the main job on the iris data; ``compare P.csv Q.csv`` fits a
mixture to each file and prints KL both ways, JS and the JS distance, each with
its standard error. Bad input gets a one-line message and exit status 2. A
progress bar goes to standard error on long runs, when it is a terminal.
"""

import argparse
import csv
import json
import sys

import numpy as np
from sklearn.mixture import GaussianMixture

from ._config import config_context
from ._demo import run_demo
from ._divergence import METHODS
from ._estimator import GMMDivergence
from ._gaussian import COVARIANCE_TYPES
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


def _n_components(text):
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be 'auto' or a positive integer: {text}"
        )
    return value


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
    try:
        divergence = GMMDivergence(
            estimator,
            method=args.method,
            n_samples=args.n_samples,
            base=args.base,
            random_state=args.random_state,
            n_jobs=args.n_jobs,
        ).fit(data_p, data_q)
    except ValueError as error:
        raise InputError(str(error)) from error
    unit = unit_name(args.base)
    summary = divergence.summary()
    if args.json:
        report = {
            name: {"value": value, "std_error": std_error}
            for name, (value, std_error) in summary.items()
        }
        report["unit"] = unit
        report["n_samples"] = args.n_samples
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
    print(f"{'divergence':<12} {'value':>12} {'std error':>10}  ({unit})", file=out)
    for name, label in _ROWS:
        value, std_error = summary[name]
        print(f"{label:<12} {value:>12.6g} {std_error:>10.2g}", file=out)


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
        type=_n_components,
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
            compare(args)
        except InputError as error:
            print(f"sklearn-divergence compare: error: {error}", file=sys.stderr)
            return 2
    return 0
