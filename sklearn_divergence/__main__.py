"""``python -m sklearn_divergence``: see :mod:`sklearn_divergence._cli`."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
