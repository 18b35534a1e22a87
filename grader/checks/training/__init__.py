"""numpy.model.train and framework.model.train: the grader's own seeded loop on the student's model, then test accuracy.

judge.py holds what both share (the plan's data, the judge, the evidence, the diagnosis);
numpy_check.py and framework_check.py their registry entries.  Nothing heavy is imported here:
worker modules of this package are imported inside the sandbox.
"""
