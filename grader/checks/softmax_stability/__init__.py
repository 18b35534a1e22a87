"""numpy.softmax.stability (advisory): does Softmax.forward survive large logits?

One check, one package: check.py (its plan, judge and registry entry, run in the grader),
worker.py (its worker task, run in the sandbox: this file stays free of imports so that the
worker pays only for what worker.py imports), its words are the `stability.*` entries of the
catalogs.
"""
