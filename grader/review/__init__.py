"""TA review of a graded class: overrides with a reason, comments, similarity decisions, their history.

    store.py    the review_* tables of gradebook.sqlite: typed records, validation, stale-form refusal
    final.py    stored results + overrides -> the final reports every export and student file is written from
    cli.py      `grade override`, `grade comment`, `grade history`, `grade review` (argument parsing)
    app.py      the web app of `grade review` (Starlette; the `review` extra), with auth.py and views.py

Grading imports store.py and final.py only (standard library and the grader's records); the web
app's packages are imported by `grade review` alone.
"""
