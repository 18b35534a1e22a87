"""Scoring: attach the rubric's points and visibility to each check outcome."""

from __future__ import annotations

from .records import CheckOutcome, CheckResult
from .rubric import AdvisoryCheck, Rubric


def score_outcomes(outcomes: list[CheckOutcome], rubric: Rubric) -> list[CheckResult]:
    """A passed check earns its points; anything else earns 0.  Advisory checks are marked as such."""
    results = []
    for outcome in outcomes:
        spec = rubric.checks.get(outcome.id)
        results.append(
            CheckResult(
                id=outcome.id,
                status=outcome.status,
                message=outcome.message,
                diagnosis=outcome.diagnosis,
                evidence=outcome.evidence,
                duration_s=outcome.duration_s,
                score=spec.points if outcome.status == "passed" else 0.0,
                max_score=spec.points,
                visibility=spec.visibility,
                released=spec.release,
                advisory=isinstance(spec, AdvisoryCheck),
            )
        )
    return results
