"""
=====================================================
Monitoring drift with the Jensen-Shannon divergence
=====================================================

A model trained on a reference batch of data can silently degrade when new
data stop looking like the reference. This example compares each new batch
with the reference batch by the Jensen-Shannon (JS) divergence between
Gaussian mixtures fitted to them, and asks, with
:func:`~sklearn_divergence.divergence_test`, whether the difference is real
or only the noise of fitting models to finite samples.

That noise is the main difficulty: two batches from one distribution never
give a divergence of exactly 0, because each model is fitted to a few hundred
points. The Monte Carlo standard error of the divergence says nothing about
it (it covers only the sampling of the fitted models). The permutation test
measures it directly, by modelling random splits of the pooled rows the same
way, and gives a p-value and a debiased divergence.
"""

# %%
# A reference batch and new batches that drift
# --------------------------------------------
# The data come from three Gaussian blobs. In the new batches the third blob
# moves up, a little more with every batch after the second one; the monitor
# does not know the shift, it only sees the data. matplotlib is optional:
# without it, the example prints its results and skips the figure.

import numpy as np
from sklearn.datasets import make_blobs

from sklearn_divergence import divergence_test

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


X_reference = make_batch(1_000, shift=0.0, seed=0)
shifts = [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]
batches = [
    make_batch(300, shift, seed=index) for index, shift in enumerate(shifts, start=1)
]

# %%
# Test every batch against the reference
# --------------------------------------
# For each batch, ``divergence_test`` chooses a Gaussian mixture by BIC on the
# reference and the batch pooled together, fits it to the pooled rows, takes
# one EM step from that fit for each of the two, and measures the JS
# divergence between the two models (in bits, between 0 and 1). It then
# splits the pooled rows at random, 99 times, into parts of the original
# sizes and models each part the same way: the divergences of these splits
# are what fitting noise alone gives. The p-value is the fraction of splits
# (counting the observed one) with a divergence at least as large, and the
# debiased JS subtracts their mean, the bias that fitting noise adds. A
# batch is flagged at alpha = 0.05.

alpha = 0.05
results = [
    divergence_test(
        X_reference,
        X_batch,
        n_permutations=99,
        n_samples=1_024,
        base=2,
        random_state=0,
        n_jobs=-1,
    )
    for X_batch in batches
]

print(f"{'batch':>5} {'true shift':>10} {'JS (bits)':>10} {'debiased':>9} {'p':>5}")
for index, (shift, result) in enumerate(zip(shifts, results, strict=True)):
    drift = "drift" if result.pvalue <= alpha else ""
    print(
        f"{index + 1:>5} {shift:>10.2f} {result.statistic:>10.4f} "
        f"{result.statistic_debiased:>9.4f} {result.pvalue:>5.2f}  {drift}"
    )

# %%
# The first two batches come from the reference distribution: their JS is
# not 0, but random splits of the same data give as much, so their p-values
# are large and their debiased JS is close to 0 (it can be negative: it is an
# estimate centred on the truth, not a divergence). The moved batches give
# divergences that few or no random splits reach: a shift of half a standard
# deviation of the moving blob (batch 3) gets p = 0.07, just short of the
# flag, a whole standard deviation (batch 4) p = 0.02, and larger shifts
# 0.01, the smallest p-value possible with 99 permutations.
#
# Each batch without drift still has a 5% chance of being flagged at
# alpha = 0.05. A monitor that tests many batches should correct for their
# number, for example with alpha / 6 (Bonferroni) here, which needs more
# permutations: ``n_permutations=999`` allows p-values down to 0.001.
#
# The null distribution of one batch
# ----------------------------------
# On the left, the debiased JS of every batch, with the flagged ones circled.
# On the right, batch 3's null distribution: the JS of the 99 random splits,
# with the observed JS as a vertical line. The p-value is the share of the
# histogram at or beyond the line, counting the observed split itself.

if plt is not None:
    batch_numbers = np.arange(1, len(batches) + 1)
    debiased = np.array([result.statistic_debiased for result in results])
    flagged = np.array([result.pvalue <= alpha for result in results])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(batch_numbers, debiased, "o-", color="tab:blue", label="debiased JS")
    left.scatter(
        batch_numbers[flagged],
        debiased[flagged],
        s=120,
        facecolors="none",
        edgecolors="tab:red",
        label=f"p ≤ {alpha}",
    )
    left.axhline(0.0, color="gray", linestyle="--")
    left.set_xlabel("batch")
    left.set_ylabel("debiased JS divergence (bits)")
    left.set_xticks(batch_numbers)
    left.legend()
    shown = results[2]
    right.hist(shown.null_distribution, bins=20, color="tab:gray")
    right.axvline(shown.statistic, color="tab:red", label="observed JS")
    right.set_xlabel("JS divergence of a random split (bits)")
    right.set_ylabel("splits")
    right.set_title(f"batch 3: p = {shown.pvalue:.2f}")
    right.legend()
    fig.tight_layout()
    plt.show()
