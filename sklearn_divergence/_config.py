"""Package-wide settings, and the parallel runner that shows progress."""

import sys
import threading
import time
from contextlib import contextmanager

from sklearn.utils.parallel import Parallel

_DEFAULTS = {"show_progress": False}
# Per thread, like scikit-learn's own configuration.
_local = threading.local()
# A bar appears only once a run has lasted this long, so short runs stay quiet.
_PROGRESS_DELAY = 1.0


def get_config():
    """The current settings, as a dict.

    Returns
    -------
    config : dict
        ``{"show_progress": bool}``.

    Examples
    --------
    >>> from sklearn_divergence import get_config
    >>> get_config()
    {'show_progress': False}
    """
    return dict(getattr(_local, "config", _DEFAULTS))


def set_config(show_progress=None):
    """Change settings for the current thread.

    Parameters
    ----------
    show_progress : bool, default=None
        Show a progress bar on standard error for Monte Carlo runs that last
        more than a second. None leaves the setting unchanged.

    Examples
    --------
    >>> from sklearn_divergence import get_config, set_config
    >>> set_config(show_progress=True)
    >>> get_config()["show_progress"]
    True
    >>> set_config(show_progress=False)
    """
    config = get_config()
    if show_progress is not None:
        if not isinstance(show_progress, bool):
            raise ValueError(
                f"show_progress must be True or False, got {show_progress!r}."
            )
        config["show_progress"] = show_progress
    _local.config = config


@contextmanager
def config_context(*, show_progress=None):
    """Change settings within a ``with`` block, then restore them.

    Parameters
    ----------
    show_progress : bool, default=None
        As in :func:`set_config`.

    Examples
    --------
    >>> from sklearn_divergence import config_context, get_config
    >>> with config_context(show_progress=True):
    ...     get_config()["show_progress"]
    True
    >>> get_config()["show_progress"]
    False
    """
    previous = get_config()
    set_config(show_progress=show_progress)
    try:
        yield
    finally:
        _local.config = previous


class ProgressBar:
    """A one-line bar on standard error, drawn once a run lasts over a second."""

    def __init__(self, total, label, stream=None, unit="chunks"):
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.start = time.monotonic()
        self.drawn = False

    def update(self, done):
        if time.monotonic() - self.start < _PROGRESS_DELAY and done < self.total:
            return
        if not self.drawn and done == self.total:
            return  # finished before it was worth showing
        width = 30
        filled = width * done // self.total
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {self.unit}")
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()
        self.drawn = True


def run_tasks(tasks, n_jobs, label, unit):
    """Run a list of ``delayed`` calls through joblib; their results, in order.

    Results come back in task order whatever ``n_jobs`` and the joblib backend
    are, so reductions over them are bit-identical. With progress on, a bar
    follows them.
    """
    bar = (
        ProgressBar(len(tasks), label, unit=unit)
        if get_config()["show_progress"]
        else None
    )
    results = []
    for result in Parallel(n_jobs=n_jobs, return_as="generator")(tasks):
        results.append(result)
        if bar is not None:
            bar.update(len(results))
    return results
