"""nn-grader: grades the "chap4 simple neural network" MNIST homework.

Data flows one way through the stages:
intake (find and extract the student's code) -> sandbox (run it in a separate,
resource-limited worker) -> checks (judge the plain arrays that came back) ->
scoring -> reports.
"""

__version__ = "0.1.0"
