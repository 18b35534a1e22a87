"""``python -m grader.mnist [--from DIR]``: fill the grader's MNIST cache (see `grader.mnist.cache`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.errors import DataError
from grader.mnist.cache import fill_cache


def main(argv: list[str] | None = None) -> int:
    """Fill the cache; print its folder, or the one-line error and exit 3."""
    parser = argparse.ArgumentParser(prog="python -m grader.mnist", description="Fill the grader's MNIST cache.")
    parser.add_argument("--from", dest="source", type=Path, help="copy this folder's four IDX files instead of downloading")
    args = parser.parse_args(argv)
    try:
        cache = fill_cache(args.source)
    except DataError as exc:
        print(f"python -m grader.mnist: {exc}", file=sys.stderr)
        return 3
    print(f"MNIST cache: {cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
