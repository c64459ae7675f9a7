"""The command line, run as a subprocess: ``compare`` and its errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_subprocess
from sklearn.mixture import GaussianMixture

from sklearn_divergence import GMMDivergence

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
        lines[3:], expected.summary().items(), strict=True
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
        (["p.csv", "q.csv", "--n-components", "zero"], "positive integer"),
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
