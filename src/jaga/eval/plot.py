"""Recall per transform per method as a PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jaga.eval.methods import MissingDependency

if TYPE_CHECKING:
    from jaga.eval.report import RobustnessReport

_COLOURS = ("#9e9e9e", "#616161", "#c8a2c8", "#64b5f6", "#1565c0", "#2e7d32", "#ef6c00")


def plot_recall(report: RobustnessReport, path: str | Path, dpi: int = 80) -> Path:
    """Two panels (production and chosen threshold), one bar per method for each transform."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise MissingDependency(
            "the robustness plot needs matplotlib (pip install matplotlib)"
        ) from error

    names = [t.name + ("" if t.core else " *") for t in report.transforms]
    methods = report.methods
    height = 0.8 / max(1, len(methods))
    y = np.arange(len(names))
    figure, axes = plt.subplots(
        1, 2, figsize=(12, 0.32 * len(names) + 1.8), sharey=True, constrained_layout=True
    )
    panels: list[tuple[Any, str, str]] = [
        (axes[0], "recall_production", "production threshold (PDQ 31)"),
        (axes[1], "recall_chosen", "threshold at 99.99% precision"),
    ]
    for axis, attr, title in panels:
        for i, method in enumerate(methods):
            values = [100 * getattr(method, attr)[t.name] for t in report.transforms]
            axis.barh(
                y + (i - (len(methods) - 1) / 2) * height,
                values,
                height=height,
                color=_COLOURS[i % len(_COLOURS)],
                label=method.name,
            )
        axis.set_xlim(0, 100)
        axis.set_title(title)
        axis.set_xlabel("recall %")
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize=8)
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower right", fontsize=8)
    figure.suptitle(
        f"Recall per transform, {report.images} originals (* = extra hard case)", fontsize=11
    )
    out = Path(path)
    figure.savefig(out, dpi=dpi)
    plt.close(figure)
    return out
