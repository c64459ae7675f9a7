"""The command line, run as a subprocess: ``compare`` and its errors."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_subprocess
from sklearn.mixture import GaussianMixture

from sklearn_divergence import GMMDivergence, divergence_test
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
    return folder, p, q


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
    options += ["--test", "--permutations", "19", "--bootstrap", "9"]
    result = run("compare", "p.csv", "q.csv", *options, cwd=folder)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    model = GaussianMixture(1, covariance_type="full", random_state=0)
    expected = GMMDivergence(model, n_samples=4096, n_bootstrap=9, random_state=0).fit(
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
    options += ["--test", "--permutations", "9", "--bootstrap", "5"]
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


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing.csv", "q.csv"], "cannot read missing.csv"),
        (["p.csv", "latin1.csv"], "cannot read latin1.csv"),
        (["p.csv", "words.csv"], "words.csv, line 3, column 2: 'oops' is not"),
        (["p.csv", "ragged.csv"], "ragged.csv, line 2: 1 columns where the file"),
        (["p.csv", "three.csv"], "p.csv has 2 columns and three.csv has 3"),
        (["p.csv", "single.csv"], "single.csv has 1 data row(s); at least 2"),
        (["p.csv", "q.csv", "--covariance-type", "diag"], "needs --n-components"),
        (["p.csv", "q.csv", "--n-samples", "1"], "n_samples must be an integer"),
        (["p.csv", "q.csv", "--n-components", "zero"], "'auto' or an integer >= 1"),
        (["p.csv", "q.csv", "--permutations", "9"], "--permutations needs --test"),
        (["p.csv", "q.csv", "--test", "--permutations", "0"], "an integer >= 1: 0"),
        (["p.csv", "q.csv", "--bootstrap", "-2"], "an integer >= 0: -2"),
        (["p.csv", "q.csv", "--method", "magic"], "invalid choice: 'magic'"),
    ],
)
def test_compare_errors(files, arguments, message):
    folder, _, _ = files
    result = run("compare", *arguments, cwd=folder)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


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
