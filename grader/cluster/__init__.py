"""Grading a class on a Dask cluster: the same verdicts as a local run, spread over many machines.

    grade submissions/ --scheduler tcp://SCHEDULER:8786      (or GRADER_SCHEDULER)

`client.py` runs on the grader's machine and keeps the gradebook; `worker.py`
is the plugin that gives each Dask worker process its warm sandbox pool and
MNIST; `task.py` is the function a worker runs per student; `payload.py` packs
and unpacks what travels (a submission's zip, MNIST); `records.py` holds the
JSON records that cross; `messages.py` the messages (by catalog id) a report may carry.

`nolocal.py` is the client's runner that runs nothing.

`distributed` is an optional extra (`pip install 'nn-grader[cluster]'`), so this
package imports nothing itself: the CLI imports `cluster.client` only when a
scheduler is given, and says how to install the extra when it is missing.
"""
