"""MNIST for the grader's training checks: where it is found, how it is downloaded, how it is read.

The modules, one job each:

- `grader.mnist.idx`: the four IDX file names, the `Mnist` record, the IDX and Keras npz readers.
- `grader.mnist.lookup`: the lookup order and the grader's cache (`load_mnist`, `locate_mnist`,
  `mnist_folder`, `grader_cache`); its docstring gives the order and the environment variables.
- `grader.mnist.download`: the mirrors, the published checksums and the verified download.
- `grader.mnist.cache`: filling the grader's cache (``python -m grader.mnist``, run by ./setup.sh).
"""

from grader.mnist.download import DEFAULT_CHECKSUMS, DEFAULT_MIRRORS, download_from_mirrors, download_mnist
from grader.mnist.idx import IDX_FILES, Mnist, read_idx
from grader.mnist.lookup import ENV_DIR, grader_cache, load_mnist, locate_mnist, mnist_folder

# The old single module's private name, still used by tests/test_mnist.py.
_download_from_mirrors = download_from_mirrors

__all__ = [
    "DEFAULT_CHECKSUMS",
    "DEFAULT_MIRRORS",
    "ENV_DIR",
    "IDX_FILES",
    "Mnist",
    "download_from_mirrors",
    "download_mnist",
    "grader_cache",
    "load_mnist",
    "locate_mnist",
    "mnist_folder",
    "read_idx",
]
