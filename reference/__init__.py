"""The staff reference solution of the "chap4 simple neural network" homework.

`numpy_model` is the numpy part exactly as the course template defines it, with the
student-written backward passes filled in.  `torch_model` and `tf_model` are the
framework part in PyTorch and in TensorFlow 2 (template style).  The grader reads
these files' top-level definitions with `ast`, the same way it reads a student's.
"""
