"""The gallery examples run, with and without matplotlib."""

import sys

import pytest
from conftest import ROOT, run_subprocess

EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


# Runs an example as sphinx-gallery does, then saves the figures it left open
# (the examples end with plt.show(), a no-op under the Agg backend).
RUN_AND_SAVE_FIGURES = """
import runpy, sys
import matplotlib.pyplot as plt
runpy.run_path(sys.argv[1], run_name="__main__")
for number in plt.get_fignums():
    plt.figure(number).savefig(f"figure_{number}.png")
"""


def test_there_are_examples():
    assert {script.name for script in EXAMPLES} == {
        "plot_compare_datasets.py",
        "plot_choose_n_components.py",
        "plot_drift_monitoring.py",
        "plot_convergence.py",
    }


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda script: script.stem)
def test_example_draws_figures(script, tmp_path):
    result = run_subprocess(
        [sys.executable, "-c", RUN_AND_SAVE_FIGURES, script], tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("figure_*.png")), result.stdout


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda script: script.stem)
def test_example_runs_without_matplotlib(script, tmp_path):
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    result = run_subprocess([sys.executable, script], tmp_path, [blocker.parent])
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob("*.png"))
    assert result.stdout.strip()
