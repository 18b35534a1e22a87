"""Worker side of the sandbox: `python -I -m grader.sandbox.child JOBDIR`.

Loads the student's definitions into a fresh namespace, runs one task, and
writes plain numbers (JSON) and numeric arrays (.npz).  The report is written
last, so its presence with the right token means the run completed.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

from .protocol import ARRAYS_FILE, INPUTS_FILE, JOB_FILE, OUT_DIR, REPORT_FILE, ChildError, ChildReport, Job
from .workspace import StudentFailure, Workspace, load_code


def _write_outputs(jobdir: Path, ws: Workspace, error: ChildError | None) -> None:
    out = jobdir / OUT_DIR
    np.savez(out / ARRAYS_FILE, **ws.arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    report = ChildReport(token=ws.job.token, values=ws.values, warnings=ws.warnings, error=error)
    tmp = out / (REPORT_FILE + ".tmp")
    tmp.write_text(report.model_dump_json(), encoding="utf-8")
    tmp.replace(out / REPORT_FILE)


def main(argv: list[str]) -> int:
    """Run the job in folder argv[1]; always try to leave a report behind."""
    jobdir = Path(argv[1])
    job = Job.model_validate_json((jobdir / JOB_FILE).read_text(encoding="utf-8"))
    with np.load(jobdir / INPUTS_FILE, allow_pickle=False) as data:
        inputs = {name: data[name] for name in data.files}
    ws = Workspace(job, inputs)
    error: ChildError | None = None
    start = time.monotonic()
    try:
        load_code(ws)
        _task(job.task)(ws)
    except StudentFailure as failure:
        error = failure.error
    except Exception as exc:  # noqa: BLE001 - a grader bug must still leave a report, labelled as ours
        msg = f"internal grader error in the worker: {type(exc).__name__}: {exc} (not your fault; please report it)"
        phase = "train" if job.task.endswith("train") else "backward"
        error = ChildError(kind="crash", phase=phase, message=msg, traceback=traceback.format_exc()[-3000:])
    ws.values["worker_seconds"] = round(time.monotonic() - start, 4)
    _write_outputs(jobdir, ws, error)
    return 0


def _task(name: str) -> Callable[[Workspace], None]:
    # Imported lazily so a numpy job never pays for importing torch or TensorFlow.
    if name == "framework_train":
        from .tasks_framework import framework_train

        return framework_train
    if name == "framework_probe":
        from .tasks_probe import framework_probe

        return framework_probe
    from . import tasks_numpy

    return getattr(tasks_numpy, name)  # type: ignore[no-any-return]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
