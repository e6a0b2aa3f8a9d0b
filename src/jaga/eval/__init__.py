"""Evaluation of Jaga's matching: how much of what offenders do to known images it still catches.

``jaga.eval.robustness.run(data_dir, out_dir)`` runs the robustness benchmark (transforms in
:mod:`jaga.eval.transforms`, methods in :mod:`jaga.eval.methods`, arithmetic in
:mod:`jaga.eval.metrics`) and returns a :class:`RobustnessReport` with ``to_markdown()``.
See docs/evaluation.md for the results and what they mean.
"""

from jaga.eval.report import MethodResult, RobustnessReport, TransformInfo
from jaga.eval.robustness import run
from jaga.eval.transforms import TRANSFORMS, Transform, get_transforms

__all__ = [
    "TRANSFORMS",
    "MethodResult",
    "RobustnessReport",
    "Transform",
    "TransformInfo",
    "get_transforms",
    "run",
]
