"""framework.model.own_step (advisory): the student's own training step, run for a few steps on a small batch.

One check, one package: check.py (its rubric spec, plan, judge and registry entry, run in the
grader), worker.py (its worker task, run in the sandbox: this file stays free of imports so that
the worker pays only for what worker.py imports), locale/ (its catalog domain `own_step`).
docs/adding-a-check.md walks through this package as the example of adding a check.
"""
