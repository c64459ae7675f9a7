"""Command line: ``python -m sklearn_divergence demo``."""

import argparse

from ._demo import run_demo


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_divergence",
        description="KL and Jensen-Shannon divergences between density models.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="divergences between mixtures fitted to iris species"
    )
    demo.add_argument("--n-samples", type=int, default=100_000)
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--n-jobs", type=int, default=None)
    args = parser.parse_args(argv)
    run_demo(
        n_samples=args.n_samples, random_state=args.random_state, n_jobs=args.n_jobs
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
