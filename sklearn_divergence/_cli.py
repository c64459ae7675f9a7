"""Command line: ``python -m sklearn_divergence`` or ``sklearn-divergence``.

``demo`` runs the main job on the iris data; ``compare P.csv Q.csv`` fits a
mixture to each file and prints KL both ways, JS and the JS distance, each with
its Monte Carlo standard error, and on request bootstrap intervals and a
permutation test. Bad input gets a one-line message in the options' terms and
exit status 2. An estimate whose standard error is over 10% of its value gets
a note. A progress bar goes to standard error on long runs, when it is a
terminal.
"""

import argparse
import csv
import json
import math
import re
import sys
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.mixture import GaussianMixture

from . import LowPrecisionWarning, __version__
from ._approximations import JS_APPROXIMATIONS
from ._config import config_context
from ._demo import DEMO_BASE, run_demo
from ._estimator import GMMDivergence
from ._gaussian import COVARIANCE_TYPES
from ._montecarlo import MC_METHODS
from ._permutation import divergence_test
from ._request import LOW_PRECISION
from ._validation import unit_name

_PROG = "sklearn-divergence"
_ROWS = (
    ("kl", "KL(P‖Q)"),
    ("kl_reverse", "KL(Q‖P)"),
    ("js", "JS(P, Q)"),
    ("js_distance", "JS distance"),
)
_MIN_ROWS = 2
# compare reports JS, which has no closed form and no 'matched' approximation.
_METHODS = ("auto", *MC_METHODS, *JS_APPROXIMATIONS)
# How a number starts, as in '0x10', '1e' or '1,5': a header has no such field,
# so that a first row of malformed numbers is reported, not taken for names.
_NUMBER_START = re.compile(r"\s*[+-]?\.?\d")
# The library's names for what the options set, and for the data sets.
_CLI_TERMS = {
    "method": "--method",
    "n_samples": "--n-samples",
    "n_components": "--n-components",
    "covariance_type": "--covariance-type",
    "base": "--base",
    "random_state": "--random-state",
    "n_jobs": "--n-jobs",
    "n_bootstrap": "--bootstrap",
    "n_permutations": "--permutations",
    "X_p": "P",
    "X_q": "Q",
}
# One of those names, with its value where it is a keyword argument, as in
# method='rqmc' or n_samples=10.
_PYTHON_NAME = re.compile(rf"\b({'|'.join(_CLI_TERMS)})\b(?:=('?)([\w.+-]*\w)\2)?")


class InputError(Exception):
    """Bad command-line input, reported as one line and exit status 2."""


class Table(NamedTuple):
    """The numbers of a CSV file, with the names in its header row (or None)."""

    path: str
    data: np.ndarray
    header: list | None


def _message(command, kind, text):
    """One line on standard error: an error, a warning or a note."""
    print(f"{_PROG} {command}: {kind}: {text}", file=sys.stderr)


def _in_cli_terms(message):
    """A library message with its Python names as options, such as
    ``--method rqmc`` for ``method='rqmc'``."""

    def replace(match):
        name, _, value = match.groups()
        if value is not None:
            return f"{_CLI_TERMS[name]} {value}"
        # Alone, 'method' and 'base' are words, as in "this method".
        return _CLI_TERMS[name] if "_" in name else name

    return _PYTHON_NAME.sub(replace, message)


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_header(row):
    """Whether a first row holds names: none of its fields looks like a number."""
    return not any(_is_number(cell) or _NUMBER_START.match(cell) for cell in row)


def _read_rows(path):
    """(line number, fields) for each row of a CSV file that is not blank."""
    try:
        with open(path, newline="") as file:
            reader = csv.reader(file)
            return [
                (reader.line_num, row)
                for row in reader
                if any(cell.strip() for cell in row)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"cannot read {path}: {error}") from error


def _check_numbers(path, rows, header, first):
    """Raise unless every row is as wide as the first (or the header) and holds
    numbers from column ``first`` (0-based) on."""
    width = len(header) if header is not None else len(rows[0][1])
    for line, row in rows:
        if len(row) != width:
            raise InputError(
                f"{path}, line {line}: {len(row)} columns where the file has {width}."
            )
        for column, cell in enumerate(row[first:], start=first + 1):
            if _is_number(cell):
                continue
            hint = ""
            if header is None and line == rows[0][0]:
                hint = (
                    f" Line {line} is read as data: a header has no field that "
                    "is, or starts like, a number."
                )
            raise InputError(
                f"{path}, line {line}, column {column}: {cell.strip()!r} is not "
                f"a number; every column must be numeric.{hint}"
            )


def read_csv(path):
    """A Table from a numeric CSV file.

    The first row is a header when none of its fields is a number or starts
    like one. An empty first name in it marks an index, as
    ``DataFrame.to_csv`` writes one: that column is left out, with a note.
    """
    rows = _read_rows(path)
    header = None
    if rows and _is_header(rows[0][1]):
        header, rows = [name.strip() for name in rows[0][1]], rows[1:]
    if len(rows) < _MIN_ROWS:
        raise InputError(
            f"{path} has {len(rows)} data row(s); at least {_MIN_ROWS} are needed."
        )
    first = 1 if header is not None and not header[0] else 0
    if first:
        _message(
            "compare",
            "note",
            f"{path}: its first column has no name, as an index that pandas "
            "writes; it is left out.",
        )
    _check_numbers(path, rows, header, first)
    data = np.array([row[first:] for _, row in rows], dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path} contains NaN or infinite values.")
    return Table(path, data, None if header is None else header[first:])


def _named_by(table, other):
    """The file whose header names the columns of ``table``: its own; for a
    file without one, the other file's, as the columns then match by position.
    """
    if (
        table.header is None
        and other.header is not None
        and len(other.header) == table.data.shape[1]
    ):
        return other
    return table


def _column_names(table):
    """The header's names, or for a file without one, 0-based indices."""
    if table.header is None:
        return [str(index) for index in range(table.data.shape[1])]
    return table.header


def _select(table, other, columns, drop):
    """The data and column names of ``table``, restricted to ``columns`` (in
    that order) or without ``drop``."""
    namer = _named_by(table, other)
    names = _column_names(namer)
    if columns is None and drop is None:
        return table.data, names
    option, listed = ("--columns", columns) if columns is not None else ("--drop", drop)
    for name in listed:
        if names.count(name) != 1:
            found = (
                f"{names.count(name)} columns named" if name in names else "no column"
            )
            raise InputError(
                f"{option}: {namer.path} has {found} {name!r}; its columns are "
                f"{', '.join(names)}."
            )
    kept = columns if columns is not None else [n for n in names if n not in drop]
    if not kept:
        raise InputError(f"--drop leaves no columns in {table.path}.")
    return table.data[:, [names.index(name) for name in kept]], kept


def _read_pair(args):
    """The data of P and Q, with the same columns in the same order, and the
    columns' names (None when neither file has a header)."""
    table_p, table_q = read_csv(args.p), read_csv(args.q)
    data_p, names_p = _select(table_p, table_q, args.columns, args.drop)
    data_q, names_q = _select(table_q, table_p, args.columns, args.drop)
    if len(names_p) != len(names_q):
        raise InputError(
            f"{args.p} has {len(names_p)} columns and {args.q} has "
            f"{len(names_q)}; both files must have the same columns."
        )
    if names_p != names_q:
        if set(names_p) != set(names_q) or len(set(names_p)) < len(names_p):
            raise InputError(
                f"{args.p} and {args.q} name different columns: "
                f"{', '.join(names_p)} and {', '.join(names_q)}; choose the "
                "columns to compare with --columns."
            )
        # The same names in another order: the columns match by name.
        data_q = data_q[:, [names_q.index(name) for name in names_p]]
    named = table_p.header is not None or table_q.header is not None
    return data_p, data_q, names_p if named else None


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


def _argument(convert, is_valid, expected):
    """An argparse type: ``convert(text)``, which must pass ``is_valid``."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            valid = False
        else:
            valid = is_valid(value)
        if not valid:
            raise argparse.ArgumentTypeError(f"must be {expected}: {text}")
        return value

    return parse


def _integer_at_least(minimum):
    return _argument(int, lambda value: value >= minimum, f"an integer >= {minimum}")


def _column_list(text):
    """An argparse type: distinct column names, separated by commas."""
    names = [name.strip() for name in text.split(",")]
    if "" in names or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(
            f"must be distinct column names separated by commas: {text}"
        )
    return names


def _precision_notes(estimates, unit):
    """A note for each estimate whose standard error is over 10% of its value."""
    return [
        f"the standard error of {label} ({std_error:.2g} {unit}) is over "
        f"{LOW_PRECISION:.0%} of its value ({value:.2g} {unit}); increase "
        "--n-samples."
        for label, (value, std_error) in estimates.items()
        if std_error > LOW_PRECISION * abs(value)
    ]


def _fit(args, data_p, data_q):
    """The fitted GMMDivergence and, with --test, the permutation test."""
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
        raise InputError(_in_cli_terms(str(error))) from error
    return divergence, test


def _json_report(args, divergence, test, data, names):
    """compare's results as a JSON-ready dict."""
    report = {
        name: {"value": value, "std_error": std_error}
        for name, (value, std_error) in divergence.summary().items()
    }
    for name in report:
        interval = getattr(divergence, f"{name}_ci_", None)
        if interval is not None:
            report[name]["ci"] = list(interval)
            report[name]["debiased"] = getattr(divergence, f"{name}_debiased_")
    report["unit"] = unit_name(args.base)
    report["n_samples"] = args.n_samples
    report["std_error_covers"] = "Monte Carlo sampling only"
    if divergence.data_space_ is not None:
        report["coordinates"] = divergence.data_space_.describe()
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
            "pvalues_by_view": test.pvalues_by_view,
            "n_permutations": test.null_distribution.size,
        }
    report["models"] = {
        side: {
            "n_rows": int(X.shape[0]),
            "n_components": int(model.n_components),
            "covariance_type": model.covariance_type,
        }
        for side, X, model in zip(
            "pq", data, (divergence.estimator_p_, divergence.estimator_q_), strict=True
        )
    }
    if names is not None:
        report["columns"] = names
    return report


def _print_table(args, divergence, test, data, out):
    """compare's results as a table, with a line on what the errors cover."""
    for side, path, X, model in zip(
        "PQ",
        (args.p, args.q),
        data,
        (divergence.estimator_p_, divergence.estimator_q_),
        strict=True,
    ):
        print(
            f"{side}: {path} ({X.shape[0]} rows, {X.shape[1]} columns): "
            f"GaussianMixture(n_components={model.n_components}, "
            f"covariance_type={model.covariance_type!r})",
            file=out,
        )
    unit = unit_name(args.base)
    level = f"{divergence.confidence_level:.0%} interval"
    header = f"{'divergence':<12} {'value':>12} {'std error':>10}"
    if args.bootstrap:
        header += f"  {'bias-corrected':>14}  {level:>25}"
    print(f"{header}  ({unit})", file=out)
    summary = divergence.summary()
    for name, label in _ROWS:
        value, std_error = summary[name]
        line = f"{label:<12} {value:>12.6g} {std_error:>10.2g}"
        if args.bootstrap:
            low, high = getattr(divergence, f"{name}_ci_")
            debiased = getattr(divergence, f"{name}_debiased_")
            line += f"  {debiased:>14.6g}  {f'[{low:.6g}, {high:.6g}]':>25}"
        print(line, file=out)
    print(
        "The standard errors cover only the Monte Carlo sampling of the fitted "
        "models, not the error of fitting them to the data.",
        file=out,
    )
    if args.bootstrap:
        print(
            f"The intervals come from {args.bootstrap} bootstrap refits of both "
            "models (basic intervals), and cover the fitting error too; they "
            "correct the fitting bias, and so does the bias-corrected value "
            "inside them.",
            file=out,
        )
    if divergence.data_space_ is not None:
        print(
            f"Measured in {divergence.data_space_.describe()}.",
            file=out,
        )
    if test is not None:
        print(
            f"Permutation test of JS ({test.null_distribution.size} permutations): "
            f"p-value = {test.pvalue:.4g}; JS = {test.statistic:.6g}, debiased "
            f"{test.statistic_debiased:.6g} ({unit}).",
            file=out,
        )
        if test.data_space is not None:
            print(
                "The test's JS is between models one EM step from the pooled "
                "fit, a statistic for the test, so it differs from the estimate "
                "above.",
                file=out,
            )


def compare(args, out):
    """Run ``compare`` on parsed arguments; raises InputError on bad input.

    Returns the estimates printed, {label: (value, std_error)}, and their unit.
    """
    data_p, data_q, names = _read_pair(args)
    divergence, test = _fit(args, data_p, data_q)
    if args.json:
        json.dump(
            _json_report(args, divergence, test, (data_p, data_q), names),
            out,
            indent=2,
        )
        out.write("\n")
    else:
        _print_table(args, divergence, test, (data_p, data_q), out)
    summary = divergence.summary()
    return {label: summary[name] for name, label in _ROWS}, unit_name(args.base)


def demo(args, out):
    """Run ``demo``; returns the estimates printed and their unit."""
    estimates = run_demo(
        n_samples=args.n_samples,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        file=out,
    )
    return estimates, unit_name(DEMO_BASE)


def _parser():
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="KL and Jensen-Shannon divergences between density models.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="divergences between mixtures fitted to iris species"
    )
    demo_parser.set_defaults(run=demo)
    compare_parser = commands.add_parser(
        "compare",
        help="fit a Gaussian mixture to each of two CSV files and compare them",
        description="Fit a Gaussian mixture to each CSV file (numeric columns, "
        "optional header row) and print KL(P‖Q), KL(Q‖P), JS and the JS "
        "distance with their standard errors.",
    )
    compare_parser.set_defaults(run=compare)
    compare_parser.add_argument("p", metavar="P.csv", help="the first data set")
    compare_parser.add_argument("q", metavar="Q.csv", help="the second data set")
    selection = compare_parser.add_mutually_exclusive_group()
    selection.add_argument(
        "--columns",
        type=_column_list,
        metavar="A,B,...",
        help="compare only these columns, in this order: names from the header "
        "row, or 0-based indices in a file without one",
    )
    selection.add_argument(
        "--drop",
        type=_column_list,
        metavar="A,B,...",
        help="leave out these columns (names or 0-based indices, as --columns)",
    )
    compare_parser.add_argument(
        "--n-components",
        type=_argument(
            lambda text: text if text == "auto" else int(text),
            lambda value: value == "auto" or value >= 1,
            "'auto' or an integer >= 1",
        ),
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
        choices=_METHODS,
        default="auto",
        metavar="METHOD",
        help=f"one of {', '.join(_METHODS)} (default: auto)",
    )
    compare_parser.add_argument(
        "--base",
        type=_argument(
            float,
            lambda value: math.isfinite(value) and value > 1,
            "a number > 1 (2 for bits)",
        ),
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
    for sub in (demo_parser, compare_parser):
        sub.add_argument(
            "--n-samples",
            type=_integer_at_least(2),
            default=100_000,
            help="points drawn per side (default: 100000)",
        )
        sub.add_argument(
            "--random-state",
            type=_argument(
                int,
                lambda value: 0 <= value < 2**32,
                f"an integer from 0 to {2**32 - 1}",
            ),
            default=0,
            help="seed, for reproducible results (default: 0)",
        )
        sub.add_argument(
            "--n-jobs",
            type=_argument(int, lambda value: value != 0, "a non-zero integer"),
            default=None,
            help="parallel jobs; -1 for all processors (default: 1)",
        )
    return parser


def main(argv=None):
    """Entry point of ``python -m sklearn_divergence`` and ``sklearn-divergence``."""
    args = _parser().parse_args(argv)
    # The progress bar goes to standard error, and only to a terminal.
    with (
        config_context(show_progress=sys.stderr.isatty()),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        # The notes below say it instead, in the unit of the results.
        warnings.simplefilter("ignore", LowPrecisionWarning)
        try:
            estimates, unit = args.run(args, sys.stdout)
        except InputError as error:
            _message(args.command, "error", error)
            return 2
    # divergence_test repeats the warnings about the models, as X_p and X_q.
    for text in dict.fromkeys(_in_cli_terms(str(w.message)) for w in caught):
        _message(args.command, "warning", text)
    for note in _precision_notes(estimates, unit):
        _message(args.command, "note", note)
    return 0
