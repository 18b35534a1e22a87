"""A check's evidence, as a union discriminated by `kind`: gradient, training, probe, error (or none).

Reports draw heat maps from GradientEvidence, charts from TrainingEvidence, and
show every other field as a row; result.json holds the same fields.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from .base import EvidenceBase
from .error import ErrorEvidence, NoEvidence
from .gradient import ArrayComparison, GradientComparison, GradientEvidence
from .probe import ProbeEvidence
from .training import Curve, TrainingEvidence

Evidence = Annotated[Union[GradientEvidence, TrainingEvidence, ProbeEvidence, ErrorEvidence, NoEvidence], Field(discriminator="kind")]

__all__ = ["ArrayComparison", "Curve", "ErrorEvidence", "Evidence", "EvidenceBase", "GradientComparison", "GradientEvidence",
           "NoEvidence", "ProbeEvidence", "TrainingEvidence"]
