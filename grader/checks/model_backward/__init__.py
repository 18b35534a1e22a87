"""numpy.model.backward: the student's myModel gradients against autograd of the template's loss.

check.py (plan and judge, run in the grader), worker.py (the worker task, run in the sandbox:
this file stays free of imports so that the worker pays only for what worker.py imports).
"""
