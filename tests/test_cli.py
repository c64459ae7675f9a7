"""The command line: ``compare``, ``demo`` and their errors.

Runs of the real program go through a subprocess; the errors, notes and
options are checked in-process through ``main``, which is much quicker.
"""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_subprocess
from sklearn.mixture import GaussianMixture

from sklearn_divergence import GMMDivergence, __version__, divergence_test
from sklearn_divergence._cli import main
from sklearn_divergence._demo import run_demo

SCRIPT = Path(sys.executable).parent / "sklearn-divergence"


def run(*args, cwd, command=(sys.executable, "-m", "sklearn_divergence")):
    return run_subprocess([*command, *args], cwd)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(0)
    p = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(4, 0.5, (100, 2))])
    q = rng.normal(0.5, 1.2, (200, 2))
    np.savetxt(folder / "p.csv", p, delimiter=",", header="x,y", comments="")
    np.savetxt(folder / "q.csv", q, delimiter=",")
    (folder / "three.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    (folder / "words.csv").write_text("x,y\n1,2\n3,oops\n")
    (folder / "ragged.csv").write_text("1,2\n3\n")
    (folder / "single.csv").write_text("x,y\n1,2\n")
    (folder / "latin1.csv").write_bytes(b"\xe9,\xe8\n1,2\n")
    # A field over the csv module's limit of 131072 characters.
    (folder / "huge.csv").write_text(f"x,y\n{'1' * 200_000},2\n3,4\n")
    for name, first_row in [
        ("hex", "0x10,2"),
        ("comma", '"1,5",2'),
        ("exponent", "1e,2"),
        ("mixed", "x,2"),
    ]:
        (folder / f"{name}.csv").write_text(f"{first_row}\n1,2\n3,4\n")
    # What DataFrame.to_csv() writes: the index, unnamed, as the first column.
    indexed = np.column_stack([np.arange(len(p)), p])
    np.savetxt(
        folder / "indexed.csv", indexed, delimiter=",", header=",x,y", comments=""
    )
    # p with a noise column z in front, and q with its columns shuffled.
    noise = rng.normal(size=(len(p), 1))
    wide_p = np.hstack([noise, p])
    np.savetxt(folder / "zxy.csv", wide_p, delimiter=",", header="z,x,y", comments="")
    np.savetxt(folder / "p3.csv", wide_p, delimiter=",")
    np.savetxt(folder / "q3.csv", np.hstack([q[:, :1], q]), delimiter=",")
    shuffled_q = np.column_stack([q[:, 1], rng.normal(size=len(q)), q[:, 0]])
    np.savetxt(
        folder / "yzx.csv", shuffled_q, delimiter=",", header="y,z,x", comments=""
    )
    np.savetxt(folder / "xz.csv", q, delimiter=",", header="x,z", comments="")
    # Nearly p itself: JS is tiny, so its standard error is large beside it.
    np.savetxt(folder / "near.csv", p[1:], delimiter=",")
    return folder, p, q


@pytest.fixture
def cli(files, monkeypatch, capsys):
    """Run ``main`` in-process in the CSV folder: (exit status, stdout, stderr)."""
    monkeypatch.chdir(files[0])

    def call(*args):
        try:
            status = main(list(args))
        except SystemExit as exit:
            status = exit.code
        out, err = capsys.readouterr()
        return status, out, err

    return call


def test_compare_json_matches_the_estimator(files):
    folder, p, q = files
    options = ["--n-components", "2", "--n-samples", "20000", "--base", "2"]
    result = run("compare", "p.csv", "q.csv", *options, "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = GMMDivergence(
        GaussianMixture(2, random_state=0),
        n_samples=20_000,
        base=2,
        random_state=0,
    ).fit(p, q)
    for name, (value, std_error) in expected.summary().items():
        assert report[name] == {"value": value, "std_error": std_error}
    assert report["unit"] == "bits"
    assert report["columns"] == ["x", "y"]  # the header row of p.csv
    assert report["models"]["p"] == {
        "n_rows": 250,
        "n_components": 2,
        "covariance_type": "full",
    }


def test_compare_table_with_bic_models(files):
    folder, p, q = files
    result = run("compare", "p.csv", "q.csv", "--n-samples", "8192", cwd=folder)
    assert result.returncode == 0, result.stderr
    expected = GMMDivergence(n_samples=8192, random_state=0).fit(p, q)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("P: p.csv (250 rows, 2 columns): GaussianMixture(")
    assert "(nats)" in lines[2]
    assert "chunks" not in result.stderr  # no progress bar off a terminal
    for line, (name, (value, _)) in zip(
        lines[3:7], expected.summary().items(), strict=True
    ):
        assert float(line.split()[-2]) == pytest.approx(value, rel=1e-5), name


def read_until_closed(reader):
    """Everything written to a pseudo-terminal until its last writer exits."""
    received = b""
    while True:
        try:
            data = reader.read(4096)
        except OSError:  # EIO on Linux: the terminal's other end is closed
            return received
        if not data:
            return received
        received += data


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")
def test_progress_bar_on_a_terminal(files):
    # A run of a few seconds with standard error on a pseudo-terminal: the bar
    # appears there, and standard output still holds only the table.
    import pty

    folder, _, _ = files
    command = [sys.executable, "-m", "sklearn_divergence", "compare", "p.csv"]
    command += ["q.csv", "--n-components", "2", "--method", "mc"]
    command += ["--n-samples", "4000000"]
    controller, terminal = pty.openpty()
    with (
        os.fdopen(controller, "rb", buffering=0) as reader,
        subprocess.Popen(
            command,
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=terminal,
        ) as process,
    ):
        os.close(terminal)
        shown = read_until_closed(reader)
        output = process.stdout.read().decode()
    assert process.returncode == 0, shown
    # 4 000 000 points per side in chunks of 16 384: 245 chunks per side.
    assert shown.rstrip().endswith(b"] 490/490 chunks")
    assert "chunks" not in output
    assert "KL(P" in output


def test_compare_test_and_bootstrap_json_match_the_library(files):
    folder, p, q = files
    options = ["--n-components", "1", "--n-samples", "4096", "--json"]
    options += ["--test", "--permutations", "19", "--bootstrap", "39"]
    result = run("compare", "p.csv", "q.csv", *options, cwd=folder)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    model = GaussianMixture(1, covariance_type="full", random_state=0)
    expected = GMMDivergence(model, n_samples=4096, n_bootstrap=39, random_state=0).fit(
        p, q
    )
    for name in ("kl", "kl_reverse", "js", "js_distance"):
        assert report[name]["ci"] == list(getattr(expected, f"{name}_ci_"))
    test = divergence_test(p, q, estimator=model, n_permutations=19, random_state=0)
    assert report["test"] == {
        "divergence": "js",
        "statistic": test.statistic,
        "statistic_debiased": test.statistic_debiased,
        "pvalue": test.pvalue,
        "pvalues_by_view": test.pvalues_by_view,
        "n_permutations": 19,
    }
    assert report["std_error_covers"] == "Monte Carlo sampling only"
    assert report["bootstrap"]["interval"] == "basic"


def test_compare_table_shows_intervals_the_test_and_warnings(files, tmp_path):
    folder, _, q = files
    constant = q.copy()
    constant[:, 1] = 3.0
    np.savetxt(tmp_path / "constant.csv", constant, delimiter=",")
    options = ["--n-components", "1", "--n-samples", "4096"]
    options += ["--test", "--permutations", "9", "--bootstrap", "39"]
    result = run("compare", folder / "p.csv", "constant.csv", *options, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "95% interval" in result.stdout
    assert "cover only the Monte Carlo sampling" in result.stdout
    assert "Permutation test of JS (9 permutations): p-value = 0.1;" in result.stdout
    assert "compare: warning: Q's model has variance at the reg_covar floor" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_console_script(files):
    folder, _, _ = files
    result = run("--help", cwd=folder, command=(str(SCRIPT),))
    assert result.returncode == 0, result.stderr
    assert "compare" in result.stdout and "demo" in result.stdout


ONE_GAUSSIAN = ["--n-components", "1"]
# Python spellings that a command-line user should never read in a message.
PYTHON_SPEAK = re.compile(
    r"\w=|\bNone\b|\b(n_samples|n_components|n_jobs|random_state|X_p|X_q)\b"
)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing.csv", "q.csv"], "cannot read missing.csv"),
        (["p.csv", "latin1.csv"], "cannot read latin1.csv"),
        (["p.csv", "huge.csv"], "cannot read huge.csv"),
        (["p.csv", "words.csv"], "words.csv, line 3, column 2: 'oops' is not"),
        (["p.csv", "ragged.csv"], "ragged.csv, line 2: 1 columns where the file"),
        (["p.csv", "three.csv"], "p.csv has 2 columns and three.csv has 3"),
        (["p.csv", "single.csv"], "single.csv has 1 data row(s); at least 2"),
        # A first row with something like a number in it is data, not a header.
        (["p.csv", "hex.csv"], "hex.csv, line 1, column 1: '0x10' is not a number"),
        (["p.csv", "comma.csv"], "comma.csv, line 1, column 1: '1,5' is not a"),
        (["p.csv", "exponent.csv"], "exponent.csv, line 1, column 1: '1e' is not"),
        (["p.csv", "mixed.csv"], "mixed.csv, line 1, column 1: 'x' is not a number"),
        (["p.csv", "xz.csv"], "p.csv and xz.csv name different columns: x, y and"),
        (["p.csv", "q.csv", "--columns", "x,w"], "--columns: p.csv has no column "),
        (["p.csv", "q.csv", "--drop", "w"], "its columns are x, y."),
        (["p3.csv", "q3.csv", "--columns", "3"], "its columns are 0, 1, 2."),
        (["p.csv", "q.csv", "--drop", "x,y"], "--drop leaves no columns in p.csv"),
        (["p.csv", "q.csv", "--columns", "x,x"], "must be distinct column names"),
        (["p.csv", "q.csv", "--columns", "x", "--drop", "y"], "not allowed with"),
        (["p.csv", "q.csv", "--covariance-type", "diag"], "needs --n-components"),
        (["p.csv", "q.csv", "--n-components", "zero"], "'auto' or an integer >= 1"),
        (["p.csv", "q.csv", "--permutations", "9"], "--permutations needs --test"),
        (["p.csv", "q.csv", "--test", "--permutations", "0"], "an integer >= 1: 0"),
        (["p.csv", "q.csv", "--bootstrap", "-2"], "an integer >= 0: -2"),
        (["p.csv", "q.csv", "--method", "magic"], "invalid choice: 'magic'"),
        (["p.csv", "q.csv", "--base", "1"], "argument --base: must be a number > 1"),
        (["p.csv", "q.csv", "--base", "nan"], "argument --base: must be a number"),
        # The library's messages, in the options' terms.
        (
            ["p.csv", "q.csv", *ONE_GAUSSIAN, "--method", "rqmc", "--n-samples", "6"],
            "--method rqmc needs --n-samples >= 8",
        ),
        (["p.csv", "q.csv", "--n-components", "300"], "--n-components 300, more"),
    ],
)
def test_compare_errors(cli, arguments, message):
    status, out, err = cli("compare", *arguments)
    assert status == 2
    assert message in err
    assert not PYTHON_SPEAK.search(err.splitlines()[-1]), err
    assert out == ""


@pytest.mark.parametrize("command", [["demo"], ["compare", "p.csv", "q.csv"]])
@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--n-samples", "1", "an integer >= 2"),
        ("--n-jobs", "0", "a non-zero integer"),
        ("--random-state", "-1", "an integer from 0 to 4294967295"),
        ("--random-state", "4294967296", "an integer from 0 to 4294967295"),
    ],
)
def test_bad_option_values_are_usage_errors(cli, command, option, value, expected):
    status, out, err = cli(*command, option, value)
    assert status == 2
    assert err.splitlines()[-1] == (
        f"sklearn-divergence {command[0]}: error: argument {option}: must be "
        f"{expected}: {value}"
    )
    assert out == ""


FAST = [*ONE_GAUSSIAN, "--n-samples", "1024", "--json"]


def divergences(report):
    """The value and standard error of each divergence in a JSON report."""
    return [
        report[name][key]
        for name in ("kl", "kl_reverse", "js", "js_distance")
        for key in ("value", "std_error")
    ]


def test_an_unnamed_first_column_is_an_index_and_left_out(cli):
    status, out, err = cli("compare", "indexed.csv", "q.csv", *FAST)
    assert status == 0, err
    assert "compare: note: indexed.csv: its first column has no name" in err
    _, expected, _ = cli("compare", "p.csv", "q.csv", *FAST)
    assert json.loads(out) == json.loads(expected)


@pytest.mark.parametrize(
    "arguments",
    [
        ["zxy.csv", "yzx.csv", "--columns", "x,y"],
        ["zxy.csv", "yzx.csv", "--drop", "z"],  # yzx.csv keeps y, x: matched by name
        ["p.csv", "yzx.csv", "--columns", "x,y"],
        ["zxy.csv", "q3.csv", "--columns", "x,y"],  # q3.csv's are z, x, y too
        ["p3.csv", "q3.csv", "--columns", "1,2"],  # no header: 0-based indices
        ["p3.csv", "q3.csv", "--drop", "0"],
    ],
)
def test_columns_and_drop_choose_the_columns(cli, arguments):
    status, out, err = cli("compare", *arguments, *FAST)
    assert status == 0, err
    _, expected, _ = cli("compare", "p.csv", "q.csv", *FAST)
    # The same numbers, up to rounding in the fits.
    assert divergences(json.loads(out)) == pytest.approx(
        divergences(json.loads(expected)), rel=1e-12
    )
    if "p3.csv" not in arguments:
        assert json.loads(out)["columns"] == ["x", "y"]


def test_every_method_in_the_help_is_accepted(cli):
    _, help_text, _ = cli("compare", "--help")
    listed = re.search(r"--method METHOD\s+one of (.+?) \(default", help_text, re.S)
    methods = " ".join(listed.group(1).split()).split(", ")
    assert {"auto", "rqmc", "variational"} <= set(methods)
    for method in methods:
        options = [*ONE_GAUSSIAN, "--n-samples", "256", "--method", method]
        status, _, err = cli("compare", "p.csv", "q.csv", *options)
        assert status == 0, (method, err)


# Plain Monte Carlo on few points.
IMPRECISE = ["--method", "mc", "--n-samples", "64"]


@pytest.mark.parametrize(
    ("arguments", "label"),
    [
        (
            ["compare", "p.csv", "near.csv", *ONE_GAUSSIAN, *IMPRECISE, "--base", "2"],
            "JS(P, Q)",
        ),
        (["demo", "--n-samples", "8"], "KL("),
    ],
)
def test_imprecise_estimates_get_a_note_in_the_table_unit(cli, arguments, label):
    status, _, err = cli(*arguments)
    assert status == 0, err
    assert f"{arguments[0]}: note: the standard error of {label}" in err
    assert " bits) is over 10% of its value (" in err
    assert "increase --n-samples" in err
    assert "nats" not in err and "Warning" not in err and ".py" not in err


def test_version(cli):
    assert cli("--version") == (0, f"sklearn-divergence {__version__}\n", "")


def test_demo_says_what_its_standard_errors_cover():
    out = io.StringIO()
    run_demo(n_samples=4096, file=out)
    lines = out.getvalue().splitlines()
    assert "value ± Monte Carlo standard error" in lines[0]
    assert lines[-1].startswith("The standard errors cover only the Monte Carlo")
    rows = lines[2:-1]
    assert len(rows) == 3
    for row in rows:
        # KL both ways, JS and the JS distance, each as "value ± error", in bits.
        values = [float(token) for token in row.replace("±", " ").split()[2::2]]
        kl_pq, kl_qp, js, js_distance = values
        assert kl_pq > 0 and kl_qp > 0
        assert 0 < js <= 1 and js_distance == pytest.approx(js**0.5, abs=1e-3)
