"""The grading client of a cluster run: the class is graded on Dask workers, the gradebook stays here.

    grade_class_on_cluster(folder, settings, cluster=ClusterOptions("tcp://host:8786"), out=...)

It does what `batch.grade_class` does (skip-unchanged and --force, each result
committed to out/gradebook.sqlite the moment it arrives, the class outputs
written from the gradebook), but each student is one Dask task: the submission
travels as zip bytes, the report comes back as JSON that is validated here.
Only `str` and `bytes` cross, so nothing a worker sends is unpickled into more
than a string.

Exactly once: each student is submitted once per run and saved once, the
first time its result arrives.  A worker that dies mid-task makes Dask run the
task again on another worker; only the retry's result ever arrives.  A task
that Dask gives up on (KilledWorker), or a worker that cannot grade, is saved
as an errored report under a key that never matches, so the next run grades
that student again.  A client killed with kill -9 leaves whole rows only, and
the next run skips them.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from distributed import Client, Future, KilledWorker, as_completed
from distributed.comm.addressing import parse_address, parse_host_port

from .. import __version__
from ..batch import (BatchResult, start_class_run, unreadable_report, write_class_outputs, write_reviewed_files,
                     write_student_files)
from ..decisions.final import final_reports
from ..errors import UsageError
from ..gradebook_db import Gradebook
from ..identity import with_identity
from ..intake.layout import class_members
from ..records import GradeReport
from ..text import Message
from ..reports.i18n import Lang
from ..roster import ClassRoll
from ..settings import GradeSettings
from . import messages
from .payload import mnist_digest, mnist_to_npz, pack_submission
from .records import PluginConfig, TaskReply, TaskRequest, WorkerStatus
from .task import grade_remote
from .worker import GraderPlugin, worker_status

__all__ = ["Arrival", "ClusterInfo", "ClusterOptions", "Session", "format_cluster_info", "grade_class_on_cluster", "open_session"]

_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_RETRY_KEY = ""
"""The content hash saved with a report that says "not graded": it never matches, so the next run regrades."""


@dataclass(frozen=True)
class ClusterOptions:
    """Where the Dask scheduler is and how long to wait for it."""

    scheduler: str
    """Its address, e.g. tcp://10.0.0.5:8786 (`grade --scheduler`, or GRADER_SCHEDULER)."""
    connect_timeout_s: float = 10.0
    """How long to try to reach the scheduler before giving up with exit code 2."""
    worker_wait_s: float = 60.0
    """How long to wait for a first worker when none is connected yet."""


@dataclass(frozen=True)
class ClusterInfo:
    """The workers that will grade, as checked before the first task is sent."""

    scheduler: str
    workers: tuple[WorkerStatus, ...]
    threads: int
    """Tasks the workers run at once (the sum of their threads)."""


@dataclass(frozen=True)
class Arrival:
    """One student's result as it reached the client."""

    submission: Path
    report: GradeReport
    current: bool
    """False for a "not graded" report: it is saved under a key that makes the next run grade the student again."""
    worker_seconds: float = 0.0
    """Time the worker spent grading (0 when no task ran): the rest of a round trip is the cluster's overhead."""


class Session:
    """A connected client with the grader plugin registered on every worker: submits students, collects reports.

    Made by `open_session`; `grade_class_on_cluster` uses it for a class, scripts
    (bench/cluster.py) for one student at a time.
    """

    def __init__(self, client: Client, settings: GradeSettings, request: TaskRequest) -> None:
        self.client = client
        self._settings = settings
        self._request = request
        """A template: each task's request is this one with its student and omitted files."""
        self._token = secrets.token_hex(4)
        """In every task key of this session: a killed client's leftover tasks never answer for this one."""

    def window(self) -> int:
        """How many tasks to keep out at once: enough to feed every worker thread, a few submissions' bytes in all."""
        return 2 * int(sum(self.client.nthreads().values())) + 2

    def submit(self, sub: Path) -> Future[str] | Arrival:
        """Send one student as a task; an `Arrival` at once when the submission is too big to send."""
        try:
            packed = pack_submission(sub)
        except UsageError as exc:
            return Arrival(sub, self._not_graded(sub, messages.not_sent(str(exc))), current=True)
        request = self._request.model_copy(update={"student": sub.name, "omitted": packed.omitted})
        future: Future[str] = self.client.submit(grade_remote, request.model_dump_json(), packed.data,
                                                 key=f"nn-grader-{self._token}-{sub.name}", pure=False)
        return future

    def collect(self, future: Future[str], sub: Path) -> Arrival:
        """The validated report of a finished task, or a "not graded" report saying why there is none.

        Raises:
            UsageError: the connection to the scheduler is lost.
        """
        try:
            value = future.result()
        except KilledWorker as exc:
            return Arrival(sub, self._not_graded(sub, messages.worker_died(_one_line(exc))), current=False)
        except Exception as exc:  # noqa: BLE001 - cancelled: the scheduler went away, or a Dask error for this task
            if self.client.status != "running":
                raise UsageError(f"lost the Dask scheduler mid-batch ({_one_line(exc)}); the results that arrived are "
                                 "saved; run the same command again to grade the rest") from None
            return Arrival(sub, self._not_graded(sub, messages.worker_died(_one_line(exc))), current=False)
        return self._validated(value, sub)

    def cancel(self, futures: list[Future[str]]) -> None:
        """Stop tasks that are queued or running (Ctrl-C, an error): what was saved stays saved."""
        if futures:
            self.client.cancel(futures)

    def _validated(self, value: object, sub: Path) -> Arrival:
        """Check the reply names this student and carries a valid report; keep the client's path in it."""
        worker = "?"
        try:
            if not isinstance(value, str):
                raise ValueError(f"a {type(value).__name__}, not a JSON string")
            reply = TaskReply.model_validate_json(value)
            worker = reply.worker
            if reply.failure is not None or reply.report is None:
                message = messages.worker_failed(worker, reply.failure or "no report")
                return Arrival(sub, self._not_graded(sub, message), current=False)
            report = GradeReport.model_validate_json(reply.report)
            if reply.student != sub.name or report.student != sub.name:
                raise ValueError(f"it is for student {report.student!r}, not {sub.name!r}")
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            message = messages.bad_reply(worker, _one_line(exc))
            return Arrival(sub, self._not_graded(sub, message), current=False)
        return Arrival(sub, report.model_copy(update={"submission": str(sub)}), current=True, worker_seconds=reply.seconds)

    def _not_graded(self, sub: Path, message: Message) -> GradeReport:
        """Every check errored with `message`, as a local run reports a submission it could not grade."""
        return unreadable_report(sub.name, sub, message, self._settings, failure="crash")


def grade_class_on_cluster(folder: Path, settings: GradeSettings, *, cluster: ClusterOptions, out: Path, force: bool = False,
                           lang: Lang = "en", on_done: Callable[[GradeReport, int, int], None] = lambda r, d, t: None,
                           on_connected: Callable[[ClusterInfo], None] = lambda info: None,
                           roll: ClassRoll | None = None) -> BatchResult:
    """Grade every submission of `folder` that is not graded yet on the Dask cluster, into `out`.

    Args:
        folder: the class folder (one sub-folder per student).
        settings: the rubric, MNIST (the reference copy for every worker) and seed of the run.
        cluster: the scheduler to use.
        out: the output folder, whose gradebook this client alone writes.
        force: regrade students whose stored result is current.
        lang: language of the report pages.
        on_done: called as `on_done(report, done, total)` after each saved result.
        on_connected: called once the workers are checked, before the first task.
        roll: who each folder belongs to (names and late marks, as `batch.grade_class` applies them).

    Raises:
        UsageError: the scheduler cannot be reached, has no worker, a worker cannot grade,
            or the connection is lost mid-batch (what was saved stays saved).
    """
    members = class_members(folder)
    book = Gradebook(out)
    try:
        run_id, keys, todo, result = start_class_run(book, folder, members, settings, out=out, force=force, lang=lang, roll=roll)
        if todo:  # an unchanged class is finished without the cluster
            with open_session(cluster, settings) as (session, info):
                on_connected(info)
                for done, arrival in enumerate(_arrivals(session, todo), start=1):
                    report = with_identity(arrival.report, roll.member(arrival.submission.name) if roll else None)
                    key = keys[arrival.submission.name]
                    book.save(report, key if arrival.current else replace(key, content_hash=_RETRY_KEY), run_id)
                    write_student_files(report, out, lang=lang)
                    result.graded.append(report.student)
                    on_done(report, done, len(todo))
        result.reports = final_reports(book, [sub.name for sub in members])
    finally:
        book.close()
    write_reviewed_files(result.reports, out, lang=lang)
    write_class_outputs(result.reports, out, assignment=settings.rubric.rubric.name, lang=lang, roll=roll)
    return result


def format_cluster_info(info: ClusterInfo) -> str:
    """`grading on tcp://h:8786: 2 workers, 2 threads (bwrap, ...); MNIST: 1 with their own copy, 1 sent by this client`,
    plus a warning line per worker without bubblewrap."""
    layers = sorted({status.isolation for status in info.workers}, key=len, reverse=True)
    strongest = layers[0] if layers else ()
    sent = sum(status.mnist_sent for status in info.workers)
    lines = [f"grading on {info.scheduler}: {len(info.workers)} worker{'s' * (len(info.workers) != 1)}, "
             f"{info.threads} thread{'s' * (info.threads != 1)} ({', '.join(strongest)}); "
             f"MNIST: {len(info.workers) - sent} with their own copy, {sent} sent by this client"]
    lines += [f"  warning: worker {s.worker} isolates with {', '.join(s.isolation)} only; install bubblewrap there"
              for s in info.workers if "bwrap" not in s.isolation]
    return "\n".join(lines)


@contextlib.contextmanager
def open_session(cluster: ClusterOptions, settings: GradeSettings) -> Iterator[tuple[Session, ClusterInfo]]:
    """Connect, leave MNIST with the scheduler, register the grader plugin on every worker and check them.

    Raises:
        UsageError: the scheduler cannot be reached, has no worker, or a worker cannot grade.
    """
    client = _connect(cluster)
    try:
        config = _publish_mnist(client, settings)
        client.register_plugin(GraderPlugin(config.model_dump_json()), name=config.name)
        info = _check_workers(client, cluster, config)
        yield Session(client, settings, _request_template(settings, config)), info
    finally:
        client.close()


def _connect(cluster: ClusterOptions) -> Client:
    """A client of the scheduler with at least one worker.

    Raises:
        UsageError: unreachable scheduler or no worker, in one line with the fix.
    """
    where = f"the Dask scheduler at {cluster.scheduler}"
    _check_address(cluster.scheduler)
    try:
        client = Client(cluster.scheduler, timeout=cluster.connect_timeout_s, set_as_default=False)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise UsageError(f"cannot reach {where} ({_one_line(exc)}); start it with `dask scheduler`, "
                         "or fix --scheduler / GRADER_SCHEDULER") from None
    try:
        client.wait_for_workers(1, timeout=cluster.worker_wait_s)
    except TimeoutError:
        client.close()
        raise UsageError(f"{where} has no worker after {cluster.worker_wait_s:g} s; start one on each grading machine with "
                         f"`dask worker {cluster.scheduler}`") from None
    return client


def _check_address(address: str) -> None:
    """Refuse a malformed address before Dask sees it (a half-built Client then hangs 20 s at exit).

    Raises:
        UsageError: naming the address and the form it must take.
    """
    try:
        scheme, location = parse_address(address)
        host = parse_host_port(location)[0]
    except ValueError as exc:
        raise UsageError(f"--scheduler {address}: not a scheduler address ({exc}); pass tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786") from None
    if scheme not in _SCHEMES or not host:
        raise UsageError(f"--scheduler {address}: not a scheduler address; pass tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786")


def _publish_mnist(client: Client, settings: GradeSettings) -> PluginConfig:
    """Leave the client's MNIST with the scheduler (once per distinct copy) for workers without it."""
    mnist = settings.mnist.get()
    digest = mnist_digest(mnist)
    key = ("nn-grader", "mnist", digest)
    marker = ["nn-grader", "mnist-ready", digest]
    # The marker, not the data, is asked for: a second run need not download the copy to see it is there.
    if not client.get_metadata(marker, default=False):
        client.set_metadata(list(key), mnist_to_npz(mnist))
        client.set_metadata(marker, True)
    return PluginConfig(grader_version=__version__, limits=settings.rubric.rubric.limits, mnist_digest=digest,
                        mnist_key=key, mnist_source=mnist.source)


def _check_workers(client: Client, cluster: ClusterOptions, config: PluginConfig) -> ClusterInfo:
    """Every connected worker's plugin status; refuses a worker that could not set up or runs another version.

    Raises:
        UsageError: naming the worker, what is wrong there and the fix.
    """
    replies = client.run(worker_status, config.name)
    statuses = tuple(WorkerStatus.model_validate_json(text) for text in replies.values())
    for status in statuses:
        if status.grader_version != __version__:
            raise UsageError(f"Dask worker {status.worker} runs nn-grader {status.grader_version}, this client "
                             f"{__version__}; install the same version on every worker")
        if status.problem:
            raise UsageError(f"Dask worker {status.worker} cannot grade: {status.problem}; fix it there "
                             "(`grade --doctor` on that machine shows the sandbox), restart that worker and run again")
    threads = sum(client.nthreads().values())
    return ClusterInfo(scheduler=cluster.scheduler, workers=statuses, threads=threads)


def _request_template(settings: GradeSettings, config: PluginConfig) -> TaskRequest:
    """The request fields shared by every student: the rubric file's text, the seed and the check selection.

    Raises:
        UsageError: the rubric file changed since it was loaded (the workers would grade another rubric).
    """
    loaded = settings.rubric
    raw = Path(loaded.path).read_bytes()
    if hashlib.sha256(raw).hexdigest() != loaded.sha256:
        raise UsageError(f"{loaded.path}: the rubric changed while this run started; run `grade` again")
    return TaskRequest(student="", plugin=config.name, grader_version=__version__, rubric_toml=raw.decode("utf-8"),
                       rubric_sha256=loaded.sha256, rubric_path=loaded.path, seed=settings.seed, only=settings.only,
                       self_check=settings.self_check)


def _arrivals(session: Session, todo: list[Path]) -> Iterator[Arrival]:
    """Each student's result as it arrives, each student once; at most `session.window()` tasks out at once."""
    pending, futures = iter(todo), dict[Future[str], Path]()
    queue = as_completed(loop=session.client.loop)
    seen: set[str] = set()
    try:
        while True:
            for arrival in _fill(session, pending, futures, queue):
                seen.add(arrival.submission.name)
                yield arrival
            future = next(queue, None)
            if future is None:
                return
            arrival = session.collect(future, futures.pop(future))
            if arrival.submission.name not in seen:  # a second answer for one student is never saved
                seen.add(arrival.submission.name)
                yield arrival
    finally:
        session.cancel(list(futures))


def _fill(session: Session, pending: Iterator[Path], futures: dict[Future[str], Path], queue: as_completed) -> Iterator[Arrival]:
    """Submit until the window is full; yields the students answered without a task (too big to send)."""
    window = session.window()
    while len(futures) < window:
        sub = next(pending, None)
        if sub is None:
            return
        sent = session.submit(sub)
        if isinstance(sent, Arrival):
            yield sent
            continue
        futures[sent] = sub
        queue.add(sent)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
