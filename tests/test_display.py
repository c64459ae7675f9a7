"""DivergenceDisplay, drawn with the Agg backend."""

import sys
import warnings

import matplotlib
import numpy as np
import pytest
from conftest import mixture_1d, quad_js, quad_kl
from scipy import stats

from sklearn_divergence import (
    DivergenceDisplay,
    LowPrecisionWarning,
    js_bounds,
    js_divergence,
    kl_bounds,
    kl_divergence,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend

P = mixture_1d([0.3, 0.7], [-1.0, 1.0], [0.8, 1.2])
Q = mixture_1d([0.5, 0.5], [0.0, 2.0], [1.0, 0.7])
SIZES = [256, 1024, 4096, 16_384]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    ("divergence", "function", "bounds", "truth"),
    [
        ("kl", kl_divergence, kl_bounds, quad_kl),
        ("js", js_divergence, js_bounds, quad_js),
    ],
)
def test_values_and_artists(divergence, function, bounds, truth):
    with warnings.catch_warnings():
        # Its small samples are imprecise on purpose: the display stays quiet.
        warnings.simplefilter("error", LowPrecisionWarning)
        display = DivergenceDisplay.from_estimators(
            P, Q, divergence=divergence, n_samples=SIZES, random_state=0
        )
    for n, value, std_error in zip(
        SIZES, display.estimates, display.std_errors, strict=True
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LowPrecisionWarning)
            expected = function(P, Q, n_samples=n, random_state=0, return_std=True)
        assert (value, std_error) == expected
    assert abs(display.estimates[-1] - truth(P, Q)) < 4.5 * display.std_errors[-1]
    assert display.bounds == bounds(P, Q)
    assert display.approximations["gaussian"] == function(P, Q, method="gaussian")
    # The drawn artists carry those numbers.
    np.testing.assert_array_equal(display.line_.get_xdata(), SIZES)
    np.testing.assert_array_equal(display.line_.get_ydata(), display.estimates)
    assert display.ax_.get_xscale() == "log"
    assert set(display.approximation_lines_) == set(display.approximations)
    lower, upper = display.bounds
    assert display.bounds_band_.get_y() == pytest.approx(lower)
    assert display.bounds_band_.get_height() == pytest.approx(upper - lower)
    # The band is estimate +- t standard errors, t for rqmc's 7 degrees of
    # freedom.
    band = display.band_.get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(
        np.max(display.estimates + stats.t.ppf(0.975, 7) * display.std_errors)
    )
    labels = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert "95% confidence band" in labels and "guaranteed bounds" in labels


def test_plot_on_given_axes_and_bits():
    figure, ax = plt.subplots()
    display = DivergenceDisplay.from_estimators(
        P, Q, n_samples=[512, 2048], base=2, bounds=False, approximations=False, ax=ax
    )
    assert display.ax_ is ax and display.figure_ is figure
    assert display.bounds_band_ is None and display.approximation_lines_ == {}
    assert ax.get_ylabel() == "KL(P ‖ Q) (bits)"
    # plot() again, on new axes, from the stored values.
    again = display.plot()
    assert again.ax_ is not ax


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"divergence": "hellinger"}, "divergence must be one of 'kl', 'js'"),
        ({"method": "variational"}, "method must be one of 'auto', 'mc'"),
        ({"n_samples": []}, "non-empty"),
        ({"n_samples": [100, 1.5]}, "n_samples must be an integer"),
        # A string is truthy: "no" drew the approximations.
        ({"approximations": "no"}, "approximations must be True or False"),
        ({"bounds": 0}, "bounds must be True or False, got int 0"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DivergenceDisplay.from_estimators(P, Q, **kwargs)


def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        DivergenceDisplay.from_estimators(P, Q, n_samples=[64])
