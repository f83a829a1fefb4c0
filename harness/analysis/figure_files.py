"""Finishing one matplotlib figure into a PNG file: axis labels, grid, legend, layout, save, close."""
from __future__ import annotations

from pathlib import Path

DPI = 120


def save_line_figure(fig, ax, xlabel: str, ylabel: str, path: Path) -> str:
    """Label and save ``fig`` (one axes ``ax``) as ``path``; returns the file's name."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path.name
