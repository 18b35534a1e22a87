"""framework.model.forward and framework.model.architecture: the student's framework `myModel`, probed once.

One worker run (worker.py, task `TASK`) probes a fresh, seeded myModel per input layout and
returns each call's raw outcome, one instance's parameters and the student's own training
steps (steps.py reads them with `ast`, in the worker); both checks judge that one result
(results.py): forward.py the outputs, architecture.py (with two_layer.py, deep.py and
activations.py) the parameters, wording.py says the architecture verdicts, check.py holds the
plan and the two registry entries.  Layout acceptance and "the same error" are
grader/checks/framework_layouts.py's, shared with framework.model.train.

Nothing is imported here: the worker imports this package.
"""
