"""numpy.{matmul,relu,softmax,log}.backward: each student layer's backward against autograd and finite differences.

layers.py (the layers as the grader knows them), check.py (plan, judge, `layer_check`, run in
the grader), library.py (the numpy_only rule), worker.py (the worker task, run in the sandbox:
this file stays free of imports so that the worker pays only for what worker.py imports).
"""
