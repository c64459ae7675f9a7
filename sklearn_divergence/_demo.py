"""The main job for now: divergences between iris species, with error bars."""

from sklearn.datasets import load_iris
from sklearn.mixture import GaussianMixture

from ._divergence import js_distance, js_divergence, kl_divergence

# The demo reports bits.
DEMO_BASE = 2


def run_demo(*, n_samples=100_000, random_state=0, n_jobs=None, file=None):
    """Fit a mixture per iris species and print KL both ways, JS and JS distance.

    Parameters
    ----------
    n_samples : int, default=100_000
        Points drawn from each mixture.
    random_state : int, default=0
        Seed for the fits and for the Monte Carlo draws.
    n_jobs : int, default=None
        Parallel jobs for the Monte Carlo engine.
    file : file-like, default=None
        Where to print; ``None`` means standard output.

    Returns
    -------
    estimates : dict
        Maps each divergence printed, such as ``'KL(setosa‖versicolor)'``, to
        its (value, standard error) in bits.
    """
    iris = load_iris()
    species = iris.target_names
    models = {
        name: GaussianMixture(
            n_components=2, covariance_type="full", random_state=random_state
        ).fit(iris.data[iris.target == label])
        for label, name in enumerate(species)
    }
    options = {"n_samples": n_samples, "random_state": random_state}
    options.update(n_jobs=n_jobs, return_std=True, base=DEMO_BASE)
    print(
        "Divergences between 2-component GaussianMixture fits of iris species "
        f"(4 features), in bits, {n_samples} samples per side, "
        "value ± Monte Carlo standard error",
        file=file,
    )
    header = f"{'P':>10} {'Q':>10} {'KL(P‖Q)':>18} {'KL(Q‖P)':>18} "
    print(header + f"{'JS':>18} {'JS distance':>18}", file=file)
    estimates = {}
    for first, second in [(0, 1), (1, 2), (0, 2)]:
        name_p, name_q = species[first], species[second]
        p, q = models[name_p], models[name_q]
        row = {
            f"KL({name_p}‖{name_q})": kl_divergence(p, q, **options),
            f"KL({name_q}‖{name_p})": kl_divergence(q, p, **options),
            f"JS({name_p}, {name_q})": js_divergence(p, q, **options),
            f"JS distance({name_p}, {name_q})": js_distance(p, q, **options),
        }
        cells = " ".join(f"{v:>9.4f} ± {se:<6.1e}" for v, se in row.values())
        print(f"{name_p:>10} {name_q:>10} {cells}", file=file)
        estimates.update(row)
    print(
        "The standard errors cover only the Monte Carlo sampling of the fitted "
        "models, not the error of fitting them to 50 rows per species; "
        "`compare --test` and `compare --bootstrap` measure that.",
        file=file,
    )
    return estimates
