"""Progress display and precision warnings."""

import io
import threading
import warnings

import numpy as np
import pytest
from conftest import mixture_1d

from sklearn_divergence import (
    LowPrecisionWarning,
    _config,
    config_context,
    get_config,
    js_divergence,
    kl_divergence,
    set_config,
)

P = mixture_1d([0.3, 0.7], [-1.0, 1.0], [0.8, 1.2])
Q = mixture_1d([0.5, 0.5], [0.0, 2.0], [1.0, 0.7])


def test_config_context_restores_and_is_per_thread():
    assert get_config() == {"show_progress": False}
    with config_context(show_progress=True):
        assert get_config()["show_progress"] is True
        seen = []
        thread = threading.Thread(target=lambda: seen.append(get_config()))
        thread.start()
        thread.join()
        assert seen == [{"show_progress": False}]
    assert get_config()["show_progress"] is False
    with pytest.raises(ValueError, match="show_progress must be True or False"):
        set_config(show_progress="yes")


def test_progress_bar_only_for_runs_over_the_delay(monkeypatch):
    stream = io.StringIO()
    quick = _config.ProgressBar(4, "Monte Carlo", stream)
    for done in range(1, 5):
        quick.update(done)
    assert stream.getvalue() == ""  # finished within the delay: nothing drawn
    monkeypatch.setattr(_config, "_PROGRESS_DELAY", 0.0)
    slow = _config.ProgressBar(4, "Monte Carlo", stream)
    for done in range(1, 5):
        slow.update(done)
    lines = stream.getvalue().split("\r")[1:]
    assert lines[0] == "Monte Carlo [" + "#" * 7 + "-" * 23 + "] 1/4 chunks"
    assert lines[-1] == "Monte Carlo [" + "#" * 30 + "] 4/4 chunks\n"


def test_engine_reports_every_chunk_and_keeps_its_result(monkeypatch, capsys):
    monkeypatch.setattr(_config, "_PROGRESS_DELAY", 0.0)
    quiet = kl_divergence(P, Q, method="mc", n_samples=2**16, random_state=0)
    with config_context(show_progress=True):
        shown = kl_divergence(P, Q, method="mc", n_samples=2**16, random_state=0)
    assert shown == quiet
    # 2**16 points in chunks of 2**14: 4 tasks, each reported once.
    assert capsys.readouterr().err.count("/4 chunks") == 4


def test_low_precision_warns():
    with pytest.warns(LowPrecisionWarning, match="more than 10% of its value"):
        js_divergence(P, Q, method="mc", n_samples=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LowPrecisionWarning)
        value, std_error = kl_divergence(P, Q, random_state=0, return_std=True)
    assert std_error < 0.1 * value
    assert np.isfinite(value)


def _threads_seen(monkeypatch, module, name, call):
    """BLAS/OpenMP thread counts seen at each call of ``module.name`` during
    ``call()``."""
    from threadpoolctl import threadpool_info

    seen = []
    original = getattr(module, name)

    def recording(*args):
        seen.extend(pool["num_threads"] for pool in threadpool_info())
        return original(*args)

    monkeypatch.setattr(module, name, recording)
    call()
    return seen


def test_engine_tasks_run_one_blas_thread(monkeypatch):
    # n_jobs is the one parallelism control: BLAS threads inside a task spin
    # against the other jobs (a d = 10 call took 2.2 s instead of 0.3 s with
    # one core busy).
    from sklearn_divergence import _montecarlo

    seen = _threads_seen(
        monkeypatch,
        _montecarlo,
        "_block_moments",
        lambda: kl_divergence(P, Q, n_samples=1024, random_state=0),
    )
    assert seen and set(seen) == {1}


def test_engine_planning_runs_one_blas_thread(monkeypatch):
    # Planning makes many tiny BLAS calls in the calling process: with BLAS
    # threads spinning on a busy machine, a 10 x 10 triangular solve took 7 ms
    # instead of 0.03 ms.
    from sklearn_divergence import _request

    seen = _threads_seen(
        monkeypatch,
        _request,
        "make_side",
        lambda: js_divergence(P, Q, n_samples=1024, random_state=0),
    )
    assert len(seen) >= 2 and set(seen) == {1}
