"""
=================================================
Watching a Monte Carlo estimate converge
=================================================

:class:`~sklearn_divergence.DivergenceDisplay` estimates a divergence at
several sample sizes and draws the estimates with their 95% confidence band,
next to the deterministic approximations (dashed lines) and the guaranteed
bounds (grey band). It shows at a glance how many samples a given precision
needs, and how far each cheap approximation is from the truth.
"""

# %%
# Two overlapping mixtures
# ------------------------
# Two Gaussian mixtures fitted on scikit-learn's bundled iris data: the
# versicolor and virginica species, which overlap. matplotlib is optional:
# without it, the example prints the estimates and skips the figure.

from sklearn.datasets import load_iris
from sklearn.mixture import GaussianMixture

from sklearn_divergence import DivergenceDisplay, kl_bounds, kl_divergence

try:
    import matplotlib.pyplot as plt
except ImportError:  # matplotlib is optional
    plt = None

iris = load_iris()
p = GaussianMixture(2, random_state=0).fit(iris.data[iris.target == 1])
q = GaussianMixture(2, random_state=0).fit(iris.data[iris.target == 2])
sizes = [256, 1024, 4096, 16_384, 65_536]

# %%
# The estimates
# -------------
# Each estimate comes with its standard error, which shrinks faster than
# 1/sqrt(n) here thanks to randomized quasi-Monte Carlo.

print(f"{'n_samples':>9} {'KL (nats)':>10} {'std error':>10}")
for n in sizes:
    value, std_error = kl_divergence(p, q, n_samples=n, random_state=0, return_std=True)
    print(f"{n:>9} {value:>10.4f} {std_error:>10.1e}")
lower, upper = kl_bounds(p, q)
print(f"guaranteed bounds: [{lower:.3f}, {upper:.3f}]")

# %%
# The display
# -----------

if plt is not None:
    display = DivergenceDisplay.from_estimators(p, q, n_samples=sizes, random_state=0)
    display.ax_.set_title("KL(versicolor ‖ virginica), iris, 2-component mixtures")
    display.figure_.tight_layout()
    plt.show()
