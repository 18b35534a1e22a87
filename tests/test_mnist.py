"""Tests for grader.mnist: finding, reading and downloading MNIST.

Every test passes an explicit `environ` and `home`, and runs in an empty working
directory, so none touches the real home folder, its caches or the network:
downloads come from an http.server on 127.0.0.1 serving a small generated set.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from grader.errors import DataError
from grader.mnist import IDX_FILES, Mnist, _download_from_mirrors, download_mnist, load_mnist, mnist_folder, read_idx
from grader.mnist.cache import fill_cache

REAL_MNIST = Path(os.environ.get("GRADER_MNIST_DIR") or "/work/shared/data/mnist")
PUBLISHED_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
GZ_FILES = [f"{name}.gz" for name in IDX_FILES]
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


# --------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """`array` encoded as an IDX file of unsigned bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` as IDX to `path`, gzipped when the name ends in .gz."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_set(folder: Path, *, n_train: int = 20, n_test: int = 10, gz: bool = True, seed: int = 0) -> Mnist:
    """Write a small random MNIST-shaped set into `folder`; return what was written."""
    rng = np.random.default_rng(seed)
    data = Mnist(
        train_images=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        train_labels=(np.arange(n_train) % 10).astype(np.uint8),
        test_images=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        test_labels=(np.arange(n_test) % 10).astype(np.uint8),
        source="generated",
    )
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (data.train_images, data.train_labels, data.test_images, data.test_labels)
    for name, array in zip(IDX_FILES, arrays):
        write_idx(folder / (f"{name}.gz" if gz else name), array)
    return data


def write_keras_npz(home: Path, data: Mnist) -> Path:
    """Write `data` where Keras caches MNIST."""
    path = home / ".keras" / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    np.savez(
        path, x_train=data.train_images, y_train=data.train_labels, x_test=data.test_images, y_test=data.test_labels
    )
    return path


def assert_same_data(got: Mnist, want: Mnist) -> None:
    """Fail unless the four arrays are equal, dtypes included."""
    __tracebackhide__ = True
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        got_array, want_array = getattr(got, field), getattr(want, field)
        assert got_array.dtype == np.uint8, field
        np.testing.assert_array_equal(got_array, want_array, err_msg=field)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves a folder without logging each request to stderr."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base-class signature
        """Say nothing; the tests assert on results, not on access logs."""


class TruncatingHandler(QuietHandler):
    """Promises 1000 bytes, sends 10, then hangs up: a connection dropped mid-file."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + b"x" * 8)


@contextmanager
def serving(folder: Path, handler: type[SimpleHTTPRequestHandler] = QuietHandler) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 at a free port; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    # A short poll interval keeps shutdown() from waiting the default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def dead_url() -> str:
    """A URL on a local port nobody listens on, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@dataclass(frozen=True)
class Mirror:
    """A generated set of gzip IDX files, and the URL of a server for it."""

    folder: Path
    url: str
    data: Mnist

    def checksums(self, form: Callable[[Path], str] = lambda p: f"sha256:{sha256_of(p)}") -> dict[str, str]:
        return {name: form(self.folder / name) for name in GZ_FILES}

    def environ(self, **extra: str) -> dict[str, str]:
        """Environment pointing the grader at this mirror with its digests."""
        listed = ",".join(f"{name}={digest}" for name, digest in self.checksums().items())
        return {"GRADER_MNIST_URL": self.url, "GRADER_MNIST_CHECKSUMS": listed, **extra}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty cwd (./data/MNIST/raw is a lookup place) and no proxy between urllib and 127.0.0.1."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    folder = tmp_path / "served"
    data = write_set(folder, n_train=20, n_test=10)
    with serving(folder) as url:
        yield Mirror(folder, url, data)


def grader_cache(home: Path) -> Path:
    return home / ".cache" / "nn-grader" / "mnist"


# --------------------------------------------------------------------------- reading


def test_load_reads_counts_from_idx_headers(home: Path) -> None:
    data = load_mnist(REAL_MNIST, environ={}, home=home, download=False)

    assert data.train_images.shape == (5000, 28, 28)
    assert data.train_labels.shape == (5000,)
    assert data.test_images.shape == (10000, 28, 28)
    assert np.bincount(data.test_labels, minlength=10).tolist() == PUBLISHED_TEST_LABEL_COUNTS
    assert data.source == f"{REAL_MNIST} (IDX)"


def test_read_idx_gives_the_same_array_from_gz_and_plain_files(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)

    plain = read_idx(write_idx(tmp_path / "a-idx3-ubyte", array))
    packed = read_idx(write_idx(tmp_path / "a-idx3-ubyte.gz", array))

    np.testing.assert_array_equal(plain, array)
    np.testing.assert_array_equal(packed, array)


GOOD_IDX = idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"not an IDX file \(starts with nothing"),
        (b"\x01\x02\x08\x03" + GOOD_IDX[4:], "not an IDX file"),
        (b"\x00\x00\x0d\x03" + GOOD_IDX[4:], r"type code 0x0d, only unsigned bytes"),
        (GOOD_IDX[:10], "header for 3 dimensions is truncated"),
        (GOOD_IDX[:-1], "header says 3x28x28 = 2352 bytes of data but the file holds 2351"),
        (GOOD_IDX + b"\x00", "the file holds 2353"),
        (gzip.compress(GOOD_IDX)[:-12], "cannot read or decompress"),
    ],
    ids=["empty", "bad-magic", "not-ubyte", "short-header", "truncated-data", "extra-data", "truncated-gzip"],
)
def test_read_idx_names_the_file_and_the_problem(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(content)

    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_load_rejects_image_and_label_counts_that_disagree(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "mnist"
    write_set(folder, n_train=20)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(19, dtype=np.uint8))

    match = r"train-images-idx3-ubyte.gz holds 20 images but .*train-labels-idx1-ubyte.gz holds 19 labels; "
    with pytest.raises(DataError, match=match):
        load_mnist(folder, environ={}, home=home)


def test_load_rejects_images_that_are_not_28x28(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "mnist"
    write_set(folder)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((10, 32, 32), dtype=np.uint8))

    match = r"t10k-images-idx3-ubyte.gz: expected uint8 images of shape \(N, 28, 28\) .*, got uint8 \(10, 32, 32\)"
    with pytest.raises(DataError, match=match):
        load_mnist(folder, environ={}, home=home)


def test_load_rejects_labels_outside_0_to_9(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "mnist"
    write_set(folder, n_test=10)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(10, 200, dtype=np.uint8))

    with pytest.raises(DataError, match="labels must be digits 0-9, found 200"):
        load_mnist(folder, environ={}, home=home)


# --------------------------------------------------------------------------- lookup order


def test_explicit_dir_wins_over_env_dir(tmp_path: Path, home: Path) -> None:
    write_set(tmp_path / "explicit", n_train=30)
    write_set(tmp_path / "from-env", n_train=20)

    environ = {"GRADER_MNIST_DIR": str(tmp_path / "from-env")}

    data = load_mnist(tmp_path / "explicit", environ=environ, home=home)

    assert len(data.train_images) == 30
    assert data.source == f"{tmp_path / 'explicit'} (IDX)"


def test_env_dir_is_used_when_no_explicit_dir_is_given(tmp_path: Path, home: Path) -> None:
    want = write_set(tmp_path / "from-env", gz=False)

    data = load_mnist(environ={"GRADER_MNIST_DIR": str(tmp_path / "from-env")}, home=home)

    assert_same_data(data, want)


def test_explicit_dir_missing_files_names_them_and_does_not_fall_back(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "half"
    write_set(folder)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    write_keras_npz(home, write_set(tmp_path / "other"))  # a fallback that must not be used

    with pytest.raises(DataError) as info:
        load_mnist(folder, environ={}, home=home)

    assert str(info.value) == (
        f"--mnist {folder}: missing t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (plain or .gz); "
        "put the four MNIST IDX files there or point it at a folder that has them"
    )


def test_explicit_dir_that_does_not_exist_is_an_error(tmp_path: Path, home: Path) -> None:
    with pytest.raises(DataError, match=r"^--mnist .*nowhere: not a directory; point it at a folder holding train-"):
        load_mnist(tmp_path / "nowhere", environ={}, home=home)


def test_unusable_env_dir_is_an_error_not_a_fall_through(tmp_path: Path, home: Path) -> None:
    write_keras_npz(home, write_set(tmp_path / "other"))
    (tmp_path / "empty").mkdir()

    with pytest.raises(DataError, match=r"^GRADER_MNIST_DIR .*empty: missing train-images-idx3-ubyte, "):
        load_mnist(environ={"GRADER_MNIST_DIR": str(tmp_path / "empty")}, home=home)


def test_keras_npz_cache_is_found(tmp_path: Path, home: Path) -> None:
    want = write_set(tmp_path / "gen")
    path = write_keras_npz(home, want)

    data = load_mnist(environ={}, home=home, download=False)

    assert_same_data(data, want)
    assert data.source == f"{path} (Keras npz)"


def test_keras_npz_without_mnist_arrays_is_an_error(home: Path) -> None:
    path = home / ".keras" / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, x_train=np.zeros((2, 28, 28), dtype=np.uint8))

    with pytest.raises(DataError, match=r"mnist.npz: missing arrays y_train, x_test, y_test; delete it"):
        load_mnist(environ={}, home=home, download=False)


@pytest.mark.parametrize(
    ("where", "gz"),
    [
        ("home/.cache/torchvision/MNIST/raw", True),
        ("home/data/MNIST/raw", False),
        ("cwd/data/MNIST/raw", True),
    ],
    ids=["torchvision-cache", "home-data", "cwd-data"],
)
def test_torchvision_raw_folder_is_found(tmp_path: Path, home: Path, where: str, gz: bool) -> None:
    want = write_set(tmp_path / where, gz=gz)

    data = load_mnist(environ={}, home=home, download=False)

    assert_same_data(data, want)
    assert data.source == f"{tmp_path / where} (IDX)"


def test_keras_cache_is_preferred_over_torchvision_folders(tmp_path: Path, home: Path) -> None:
    write_keras_npz(home, write_set(tmp_path / "gen", n_train=30))
    write_set(home / "data" / "MNIST" / "raw", n_train=20)

    data = load_mnist(environ={}, home=home, download=False)

    assert len(data.train_images) == 30


def test_grader_cache_follows_xdg_cache_home(tmp_path: Path, home: Path) -> None:
    want = write_set(tmp_path / "xdg" / "nn-grader" / "mnist")

    data = load_mnist(environ={"XDG_CACHE_HOME": str(tmp_path / "xdg")}, home=home, download=False)

    assert_same_data(data, want)


def test_nothing_found_without_download_gives_one_line_naming_every_place(tmp_path: Path, home: Path) -> None:
    with pytest.raises(DataError) as info:
        load_mnist(environ={}, home=home, download=False)

    message = str(info.value)
    assert "\n" not in message
    for place in (
        home / ".keras" / "datasets" / "mnist.npz",
        home / ".cache" / "torchvision" / "MNIST" / "raw",
        home / "data" / "MNIST" / "raw",
        tmp_path / "cwd" / "data" / "MNIST" / "raw",
        grader_cache(home),
    ):
        assert str(place) in message
    assert message.startswith("MNIST not found; looked in ")
    assert "download disabled. Fix: pass --mnist DIR or set GRADER_MNIST_DIR to a folder holding" in message
    assert message.endswith("(each plain or .gz), or allow the download.")


def test_not_found_message_says_what_a_half_filled_folder_lacks(home: Path) -> None:
    raw = home / "data" / "MNIST" / "raw"
    write_set(raw)
    (raw / "train-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(DataError, match=r"data/MNIST/raw \(lacks train-labels-idx1-ubyte\)"):
        load_mnist(environ={}, home=home, download=False)


# --------------------------------------------------------------------------- download


def test_download_lands_in_grader_cache_and_second_load_needs_no_server(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "served"
    want = write_set(folder, n_train=20, n_test=10)
    with serving(folder) as url:
        environ = Mirror(folder, url, want).environ()
        first = load_mnist(environ=environ, home=home, progress=False)

    second = load_mnist(environ=environ, home=home, progress=False)  # the server is gone now

    assert_same_data(first, want)
    assert_same_data(second, want)
    assert first.source == f"{grader_cache(home)} (IDX, downloaded from {url})"
    assert second.source == f"{grader_cache(home)} (IDX)"
    assert sorted(p.name for p in grader_cache(home).iterdir()) == sorted(GZ_FILES)


@pytest.mark.parametrize(
    "form",
    [
        lambda p: f"md5:{hashlib.md5(p.read_bytes()).hexdigest()}",
        lambda p: hashlib.md5(p.read_bytes()).hexdigest(),
        lambda p: f"SHA256:{sha256_of(p).upper()}",
    ],
    ids=["md5-prefixed", "bare-hex-is-md5", "sha256-any-case"],
)
def test_download_accepts_each_checksum_form(
    tmp_path: Path, mirror: Mirror, form: Callable[[Path], str]
) -> None:
    checksums = mirror.checksums(form)

    dest = download_mnist(tmp_path / "dest", base_url=mirror.url, checksums=checksums, progress=False)

    assert sorted(p.name for p in dest.iterdir()) == sorted(GZ_FILES)


def test_tampered_file_raises_checksum_error_and_leaves_no_file(tmp_path: Path, mirror: Mirror) -> None:
    checksums = mirror.checksums()
    tampered = mirror.folder / "t10k-images-idx3-ubyte.gz"
    tampered.write_bytes(tampered.read_bytes() + b"evil")
    dest = tmp_path / "dest"

    with pytest.raises(DataError) as info:
        download_mnist(dest, base_url=mirror.url, checksums=checksums, progress=False)

    message = str(info.value)
    url = f"{mirror.url}{tampered.name}"
    assert message.startswith(f"download_mnist: checksum mismatch for {tampered.name} from {url}: ")
    assert f"expected {checksums[tampered.name]}, got sha256:{sha256_of(tampered)}" in message
    assert not (dest / tampered.name).exists()
    assert not [p.name for p in dest.iterdir() if p.name.endswith(".part")]


def test_load_reports_a_checksum_failure_from_its_download(home: Path, mirror: Mirror) -> None:
    environ = mirror.environ()
    (mirror.folder / "train-labels-idx1-ubyte.gz").write_bytes(b"not what was published")

    with pytest.raises(DataError, match=r"download failed: tried 1 mirror\(s\): download_mnist: checksum mismatch "):
        load_mnist(environ=environ, home=home, progress=False)
    assert not (grader_cache(home) / "train-labels-idx1-ubyte.gz").exists()


def test_connection_dropped_mid_file_leaves_no_partial_file(tmp_path: Path, mirror: Mirror) -> None:
    dest = tmp_path / "dest"
    with serving(mirror.folder, TruncatingHandler) as url:
        match = r"fetching .*train-images-idx3-ubyte.gz failed \(connection closed after 10 of 1000 bytes\)$"
        with pytest.raises(DataError, match=match):
            download_mnist(dest, base_url=url, checksums=mirror.checksums(), progress=False)

    assert list(dest.iterdir()) == []


def test_server_down_raises_one_line_naming_the_url(home: Path, mirror: Mirror) -> None:
    url = dead_url()

    with pytest.raises(DataError) as info:
        load_mnist(environ=mirror.environ(GRADER_MNIST_URL=url), home=home, progress=False)

    message = str(info.value)
    assert "\n" not in message
    first_file = f"{url}train-images-idx3-ubyte.gz"
    assert f"download failed: tried 1 mirror(s): download_mnist: fetching {first_file} failed (" in message
    assert message.endswith("or set GRADER_MNIST_URL to a reachable mirror.")


def test_next_mirror_is_tried_after_a_network_error(tmp_path: Path, mirror: Mirror) -> None:
    dest = tmp_path / "dest"

    used = _download_from_mirrors(dest, [dead_url(), mirror.url], mirror.checksums(), progress=False)

    assert used == mirror.url
    assert sorted(p.name for p in dest.iterdir()) == sorted(GZ_FILES)


def test_download_keeps_verified_files_already_in_dest(tmp_path: Path, mirror: Mirror) -> None:
    dest = download_mnist(tmp_path / "dest", base_url=mirror.url, checksums=mirror.checksums(), progress=False)

    # Nothing listens at dead_url(), so this passes only if no file is fetched again.
    download_mnist(dest, base_url=dead_url(), checksums=mirror.checksums(), progress=False)


def test_download_replaces_a_file_in_dest_whose_digest_is_wrong(tmp_path: Path, mirror: Mirror) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"left over from an older, different download")

    download_mnist(dest, base_url=mirror.url, checksums=mirror.checksums(), progress=False)

    assert sha256_of(dest / "t10k-labels-idx1-ubyte.gz") == sha256_of(mirror.folder / "t10k-labels-idx1-ubyte.gz")


def test_download_refuses_a_file_without_a_checksum(tmp_path: Path, mirror: Mirror) -> None:
    checksums = mirror.checksums()
    del checksums["t10k-labels-idx1-ubyte.gz"]

    with pytest.raises(DataError, match=r"download_mnist: no checksum for t10k-labels-idx1-ubyte.gz"):
        download_mnist(tmp_path / "dest", base_url=mirror.url, checksums=checksums, progress=False)


@pytest.mark.parametrize(
    ("listed", "match"),
    [
        ("t10k-labels-idx1-ubyte.gz", r"cannot use 't10k-labels-idx1-ubyte.gz'; write file=algo:hex"),
        ("mnist.gz=md5:" + "0" * 32, r"cannot use 'mnist.gz=md5:0+'"),
        ("t10k-labels-idx1-ubyte.gz=sha1:" + "0" * 40, r"bad checksum 'sha1:0+'; write md5:<32 hex digits>"),
        ("t10k-labels-idx1-ubyte.gz=md5:xyz", r"bad checksum 'md5:xyz'"),
    ],
    ids=["no-digest", "unknown-file", "unknown-algorithm", "not-hex"],
)
def test_malformed_checksum_env_is_rejected_before_downloading(home: Path, listed: str, match: str) -> None:
    environ = {"GRADER_MNIST_URL": dead_url(), "GRADER_MNIST_CHECKSUMS": listed}

    with pytest.raises(DataError, match=rf"^GRADER_MNIST_CHECKSUMS: {match}"):
        load_mnist(environ=environ, home=home)


def test_download_prints_nothing_when_stderr_is_not_a_terminal(
    tmp_path: Path, mirror: Mirror, capfd: pytest.CaptureFixture[str]
) -> None:
    download_mnist(tmp_path / "dest", base_url=mirror.url, checksums=mirror.checksums(), progress=True)

    assert capfd.readouterr() == ("", "")


# --------------------------------------------------------------------------- the cache ./setup.sh fills


def test_setup_fills_the_cache_from_a_copy_and_the_tests_fixture_finds_it_there(tmp_path: Path, home: Path) -> None:
    """What ./setup.sh runs, then the lookup conftest.mnist_dir uses, with no GRADER_MNIST_DIR and no ../shared."""
    want = write_set(tmp_path / "shared", n_train=12, n_test=6)
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_MNIST_DIR", "XDG_CACHE_HOME")} | {"HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "grader.mnist", "--from", str(tmp_path / "shared")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"MNIST cache: {grader_cache(home)}"

    found = mnist_folder(environ={}, home=home, download=False)

    assert found == grader_cache(home)
    assert_same_data(load_mnist(found, environ={}, home=home), want)


def test_fill_cache_without_a_copy_downloads_verified_files_and_keeps_them(home: Path, mirror: Mirror) -> None:
    assert fill_cache(environ=mirror.environ(), home=home, progress=False) == grader_cache(home)
    assert sorted(p.name for p in grader_cache(home).iterdir()) == sorted(GZ_FILES)
    # Complete already: no server needed the second time.
    assert fill_cache(environ={"GRADER_MNIST_URL": dead_url()}, home=home, progress=False) == grader_cache(home)
    assert_same_data(load_mnist(environ={}, home=home, download=False), mirror.data)


def test_fill_cache_refuses_a_broken_copy_and_caches_nothing(tmp_path: Path, home: Path) -> None:
    write_set(tmp_path / "shared")
    (tmp_path / "shared" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: not an IDX file"):
        fill_cache(tmp_path / "shared", environ={}, home=home)
    assert not grader_cache(home).exists()


def test_fill_cache_replaces_the_other_variant_so_no_stale_file_is_read(tmp_path: Path, home: Path) -> None:
    write_set(grader_cache(home), n_train=5, gz=False, seed=1)
    want = write_set(tmp_path / "shared", n_train=8, gz=True, seed=2)
    fill_cache(tmp_path / "shared", environ={}, home=home)
    assert sorted(p.name for p in grader_cache(home).iterdir()) == sorted(GZ_FILES)
    assert_same_data(load_mnist(environ={}, home=home, download=False), want)


def test_mnist_folder_passes_over_a_keras_npz_and_names_the_cache_it_would_fill(tmp_path: Path, home: Path) -> None:
    write_keras_npz(home, write_set(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match=r"MNIST not found; looked in .*nn-grader/mnist; download disabled"):
        mnist_folder(environ={}, home=home, download=False)
    write_set(grader_cache(home))
    assert mnist_folder(environ={}, home=home, download=False) == grader_cache(home)
