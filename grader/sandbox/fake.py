"""An in-process `Runner` for tests of trusted code, in the way httpx ships `MockTransport`.

    runner = FakeRunner()                            # runs each job's task here, in this process
    runner = FakeRunner(handler=lambda job, arrays: RunResult(job.task_name, values={...}))   # a canned reply

`FakeRunner.run` takes the worker's own code path without a worker: the job and
its input arrays go through JSON and `.npz` as they would to a child, the
student's units are executed into a fresh `Workspace`, the task runs
(child.execute), and its values, arrays and error come back through the same
encoding and host-side checks a real report gets (token, arrays digest,
`allow_pickle=False`, runner.result_from_report).  So a pipeline or judge test
sees what the real sandbox would give it, in milliseconds.

There is NO isolation: no fork, no rlimits, no timeout (the `limits` argument is
ignored), and student code runs inside the test process with its privileges and
can change its modules (numpy, torch) for the rest of the run.  Use it only for
code the test itself wrote or trusts; the isolation suites (test_sandbox.py,
test_attacks.py, test_pool.py) use the real runners.

A `handler(job, arrays)` is asked first: a RunResult it returns is the reply (a
forged or malformed one, for tampering tests); None runs the job as above.
"""

from __future__ import annotations

import dataclasses

import io
import secrets
import time
from collections.abc import Callable

import numpy as np

from ..records import Phase, RunError, RunResult
from .limits import Limits
from ..text import msg
from .child import encode_arrays, encode_report, execute, read_job, unexpected
from .isolation import Isolation
from .protocol import Job
from .runner import load_arrays, parse_report, result_from_report

Handler = Callable[[Job, dict[str, np.ndarray]], RunResult | None]
"""Asked before each job: a canned RunResult, or None to run the job in-process."""
IN_PROCESS = Isolation(("in-process",))
"""What reports record as the isolation of a fake run: none at all."""


class FakeRunner:
    """A `Runner` that runs every job's worker task in this process (see the module doc: trusted code only)."""

    isolation = IN_PROCESS

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.jobs: list[Job] = []
        """Every job asked of this runner, in order (with the per-run token), for tests to inspect."""

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        """The reply the real worker would give for `job`, computed here; `limits` are not enforced."""
        job = job.model_copy(update={"token": secrets.token_hex(16)})
        self.jobs.append(job)
        if self.handler is not None:
            canned = self.handler(job, arrays)
            if canned is not None:
                return canned
        start = time.monotonic()
        result = run_in_process(job, arrays, phase=phase)
        return dataclasses.replace(result, duration_s=time.monotonic() - start)


def run_in_process(job: Job, arrays: dict[str, np.ndarray], *, phase: Phase) -> RunResult:
    """`job` through the worker's and the host's code, without a worker process between them."""
    sent = read_job(job.model_dump_json())  # as child.main reads job.json
    ws, error = execute(sent, _through_npz(arrays))
    try:
        data, error = encode_arrays(ws, error)
        report = encode_report(ws, error, data)
    except Exception as exc:  # noqa: BLE001 - a value the report cannot hold: reported as ours, as child.main does
        ws.clear_result()
        data, error = encode_arrays(ws, unexpected(ws, exc))
        report = encode_report(ws, error, data)
    parsed = parse_report(report, job.token)
    if parsed is None:  # what the host says of a report that does not validate
        return RunResult(job.task_name, error=RunError("tampered", phase, msg("sandbox.bad_report")))
    return result_from_report(job, parsed, load_arrays(data, parsed.arrays_sha256), "", phase)


def _through_npz(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays as the worker loads them from inputs.npz: copies, numeric only."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return {name: loaded[name] for name in loaded.files}
