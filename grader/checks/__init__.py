"""Checks: judge the plain arrays a worker returned, in the grader's own process."""
