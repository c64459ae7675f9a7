"""
=====================================================
Monitoring drift with the Jensen-Shannon divergence
=====================================================

A model trained on a reference batch of data can silently degrade when new
data stop looking like the reference. This example models the reference
batch once with a :class:`~sklearn.mixture.GaussianMixture`, then measures
the Jensen-Shannon divergence between it and each new batch with
:class:`~sklearn_divergence.GMMDivergence`. The divergence is in bits,
between 0 (same distribution) and 1 (no overlap), and comes with a Monte
Carlo standard error, so a batch is flagged only when its divergence is above
a threshold by more than two standard errors.
"""

# %%
# A reference batch and new batches that drift
# --------------------------------------------
# The data come from three Gaussian blobs. In the new batches the third blob
# moves up, a little more with every batch after the third one; the monitor
# does not know the shift, it only sees the data. matplotlib is optional:
# without it, the example prints its results and skips the figure.

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

from sklearn_divergence import GMMDivergence

try:
    import matplotlib.pyplot as plt
except ImportError:  # matplotlib is optional
    plt = None

centers = np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])


def make_batch(n_samples, shift, seed):
    """Points from the three blobs, the third one moved up by ``shift``."""
    moved = centers.copy()
    moved[2, 1] += shift
    X, _ = make_blobs(n_samples=n_samples, centers=moved, random_state=seed)
    return X


X_reference = make_batch(2_000, shift=0.0, seed=0)
shifts = [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
batches = [
    make_batch(500, shift, seed=index) for index, shift in enumerate(shifts, start=1)
]

# %%
# Model the reference once
# ------------------------
# The fitted reference model is reused for every batch: it is passed to
# ``GMMDivergence.fit`` as P and used as it is, never refitted. Each batch is
# passed as data, Q, and modelled by a GaussianMixture chosen by BIC. With
# ``random_state=0`` every fit draws the same points from the reference, so
# differences between batches are not Monte Carlo noise.

reference_model = GaussianMixture(n_components=3, random_state=0).fit(X_reference)

# %%
# Measure every batch
# -------------------
# The threshold, 0.01 bits, sits above what batches drawn from the reference
# distribution itself give. Those are not exactly 0: each batch's model is
# fitted on only 500 points, and that fitting error is not part of the
# standard error, which covers only the Monte Carlo sampling. In practice,
# calibrate the threshold on batches known to be free of drift.

threshold = 0.01
js = np.empty(len(batches))
js_std_error = np.empty(len(batches))
for index, X_batch in enumerate(batches):
    divergence = GMMDivergence(n_samples=20_000, base=2, random_state=0)
    divergence.fit(reference_model, X_batch)
    js[index], js_std_error[index] = divergence.js_, divergence.js_std_error_
flagged = js - 2 * js_std_error > threshold

print(f"{'batch':>5} {'true shift':>10} {'JS (bits)':>20}  drift?")
for index, shift in enumerate(shifts):
    print(
        f"{index + 1:>5} {shift:>10.2f} {js[index]:>10.5f} ± "
        f"{js_std_error[index]:.1e}  {'yes' if flagged[index] else 'no'}"
    )

# %%
# The first three batches come from the reference distribution and stay well
# below the threshold. The divergence grows with the shift, and the monitor
# flags every batch from a shift of half a standard deviation of the moving
# blob onwards; a quarter of a standard deviation (batch 4) is within the
# fitting noise and goes unflagged. The standard errors are small compared
# with the values: 20 000 points per distribution are plenty here.
#
# Plot the divergence of each batch
# ---------------------------------
# The error bars are two standard errors; at this scale they are hidden by the
# markers.

if plt is not None:
    batch_numbers = np.arange(1, len(batches) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.errorbar(
        batch_numbers,
        js,
        yerr=2 * js_std_error,
        fmt="o-",
        color="tab:blue",
        label="JS(reference, batch)",
    )
    ax.scatter(
        batch_numbers[flagged],
        js[flagged],
        s=120,
        facecolors="none",
        edgecolors="tab:red",
        label="drift flagged",
    )
    ax.axhline(threshold, color="gray", linestyle="--", label="threshold")
    ax.set_xlabel("batch")
    ax.set_ylabel("JS divergence (bits)")
    ax.set_xticks(batch_numbers)
    ax.legend()
    fig.tight_layout()
    plt.show()
