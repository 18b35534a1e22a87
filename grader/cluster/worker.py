"""The grader on a Dask worker: a plugin that holds a warm sandbox pool and MNIST for the worker's life.

The client registers `GraderPlugin` (`Client.register_plugin`); Dask sets it up on
every worker connected then and on every worker that joins later, and tears it
down when the worker closes.  Setting up starts `nthreads + 1` warm templates
(the first stays without a framework, for numpy checks, as in a local class run), imports
the grading pipeline (PyTorch) once, and finds MNIST: the worker's own copy
(`GRADER_MNIST_DIR` there, or the usual caches) when its digest is the
client's, else the client's copy, fetched once from the scheduler.  So a task
costs what a local one costs.

A worker killed with SIGKILL skips teardown; its templates die with it
(bubblewrap's --die-with-parent, PR_SET_PDEATHSIG).  That is why the pool is
started here, in the worker's event-loop thread, which lives as long as the
worker: Linux sends the parent-death signal when the *thread* that started a
child exits.
"""

from __future__ import annotations

import dataclasses
import asyncio
import hashlib
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

from distributed import Worker, WorkerPlugin

from ..checks.builtin import BUILTIN
from .. import __version__
from ..errors import DataError, GraderError, RubricError
from ..mnist import Mnist, load_mnist
from ..rubric import LoadedRubric, load_rubric
from ..sandbox.pool import WarmRunner
from .payload import mnist_digest, mnist_from_npz
from .records import PluginConfig, TaskRequest, WorkerStatus

__all__ = ["GraderPlugin", "WorkerState", "load_rubric_text", "worker_status"]



@dataclass
class WorkerState:
    """What a set-up plugin holds: the pool, the data, and the rubrics seen so far."""

    config: PluginConfig
    runner: WarmRunner
    mnist: Mnist
    mnist_sent: bool
    """Whether `mnist` is the client's copy, fetched from the scheduler."""
    _rubrics: dict[str, LoadedRubric] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rubric(self, request: TaskRequest) -> LoadedRubric:
        """The request's rubric, validated as `grade --rubric` validates a file; cached by hash.

        Raises:
            RubricError: the text does not hash to `rubric_sha256`, or it does not validate.
        """
        with self._lock:
            cached = self._rubrics.get(request.rubric_sha256)
        if cached is not None:
            return cached
        loaded = load_rubric_text(request)
        with self._lock:
            self._rubrics[request.rubric_sha256] = loaded
        return loaded


class GraderPlugin(WorkerPlugin):
    """Dask worker plugin: one warm sandbox pool and one MNIST per worker process.

    Args:
        config_json: a `PluginConfig` as JSON (the plugin is pickled to the
            scheduler; a plain string keeps what it carries obvious).
    """

    idempotent = True
    """A second client with the same config reuses the running pool instead of restarting it."""

    def __init__(self, config_json: str) -> None:
        self.config_json = config_json
        self.state: WorkerState | None = None
        self.problem = ""
        """Why setup failed, shown by the client; tasks sent here come back as failures that say it."""

    async def setup(self, worker: Worker) -> None:
        """Start the pool, find MNIST, import the pipeline; never raises (a failure is recorded in `problem`)."""
        config = PluginConfig.model_validate_json(self.config_json)
        try:
            # Here, in the event-loop thread: see the module docstring.  No framework yet: each task
            # has the idle templates import its student's (task.py), as a local run guesses from its first.
            runner = WarmRunner(worker.state.nthreads + 1, limits=config.limits)
        except GraderError as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            return
        try:
            mnist, sent = await self._find_mnist(worker, config)
            # PyTorch's first import, once, before any task: two task threads importing it at once
            # can see a half-initialised module.
            await asyncio.to_thread(import_module, "grader.pipeline")
        except Exception as exc:  # noqa: BLE001 - recorded for the client, which names the worker and the fix
            runner.close()
            self.problem = f"{type(exc).__name__}: {exc}"
            return
        self.state = WorkerState(config, runner, mnist, sent)

    def teardown(self, worker: Worker) -> None:
        """Stop the pool's templates and delete their slots."""
        state, self.state = self.state, None
        if state is not None:
            state.runner.close()

    async def _find_mnist(self, worker: Worker, config: PluginConfig) -> tuple[Mnist, bool]:
        """The worker's own MNIST when it is the client's, else the client's copy from the scheduler (True)."""
        local, why_not = await asyncio.to_thread(_local_mnist, config.mnist_digest)
        if local is not None:
            return local, False
        payload = await worker.scheduler.get_metadata(keys=list(config.mnist_key), default=None)
        if not isinstance(payload, bytes):
            raise DataError(f"no usable MNIST here ({why_not}) and the scheduler holds no copy from the client; "
                            "run `grade` again, or set GRADER_MNIST_DIR on this worker")
        source = f"{config.mnist_source}, sent by the grading client"
        return await asyncio.to_thread(mnist_from_npz, payload, source=source, digest=config.mnist_digest), True


def _local_mnist(digest: str) -> tuple[Mnist | None, str]:
    """This machine's MNIST if it is the client's (same digest), and a note on why not otherwise."""
    try:
        mnist = load_mnist(None, download=False, progress=False)
    except DataError as exc:
        return None, f"none found: {exc}"
    if mnist_digest(mnist) != digest:
        return None, f"{mnist.source} differs from the client's"
    return mnist, ""


def load_rubric_text(request: TaskRequest) -> LoadedRubric:
    """Validate the rubric text through `load_rubric` itself (a file), so the same rules and messages apply."""
    raw = request.rubric_toml.encode("utf-8")
    if hashlib.sha256(raw).hexdigest() != request.rubric_sha256:
        raise RubricError(f"{request.rubric_path}: the rubric text that reached this worker does not match its "
                          "SHA-256; run `grade` again")
    with tempfile.TemporaryDirectory(prefix="nn-grader-rubric-") as tmp:
        path = Path(tmp) / (Path(request.rubric_path).name or "rubric.toml")
        path.write_bytes(raw)
        loaded = load_rubric(path, BUILTIN)
    return dataclasses.replace(loaded, path=request.rubric_path)


def worker_status(plugin: str, dask_worker: Worker) -> str:
    """`client.run` target: this worker's `WorkerStatus` as JSON, for the client's check before grading."""
    found = dask_worker.plugins.get(plugin)
    if not isinstance(found, GraderPlugin):
        return _status(dask_worker, problem=f"the grader plugin {plugin} is not set up here")
    if found.state is None:
        return _status(dask_worker, problem=found.problem or "the grader plugin is still setting up")
    state = found.state
    return WorkerStatus(worker=dask_worker.address, grader_version=__version__, isolation=state.runner.isolation.layers,
                        pool_size=state.runner.size, mnist_source=state.mnist.source,
                        mnist_sent=state.mnist_sent).model_dump_json()


def _status(worker: Worker, *, problem: str) -> str:
    return WorkerStatus(worker=worker.address, grader_version=__version__, isolation=(), pool_size=0,
                        mnist_source="", problem=problem).model_dump_json()
