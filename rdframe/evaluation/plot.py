"""The rate–distortion plane of Alemi et al. (2018), Fig. 1: D on x, R on y, in nats.

Reads RunResult records only: plotting never imports torch or Lightning.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rdframe.atomic import atomic_path  # noqa: E402
from rdframe.results import RunResult  # noqa: E402

MARKERS = "osD^v<>pXh*"


def pareto_front(points: np.ndarray) -> np.ndarray:
    """The (D, R) points not dominated by another (lower or equal in both), sorted by D.

    >>> pareto_front(np.array([[1.0, 3.0], [2.0, 2.0], [2.5, 2.5], [3.0, 1.0]])).tolist()
    [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
    """
    ordered = points[np.lexsort((points[:, 1], points[:, 0]))]
    front, best_rate = [], np.inf
    for d, r in ordered:
        if r < best_rate:
            front.append((d, r))
            best_rate = r
    return np.array(front)


def _beta_norm(betas: np.ndarray) -> Normalize:
    positive = betas[betas > 0]
    if len(positive) == len(betas) and positive.max() > positive.min():
        return LogNorm(positive.min(), positive.max())
    return Normalize(betas.min(), max(betas.max(), betas.min() + 1e-9))


def _draw_bounds(ax: plt.Axes, entropy: float | None, d_max: float, r_max: float) -> None:
    """Iso-ELBO lines R + D = c, the edge R = 0, and with H known the bound R = H − D and the
    edge D = H. Each kind of line carries a ``gid`` naming it, so a reader can find it."""
    for c in np.linspace(0, d_max + r_max, 9)[1:]:
        ax.plot([0, c], [c, 0], color="0.85", lw=0.8, zorder=0, gid="iso-elbo")
    if entropy is not None:
        ax.plot([0, entropy], [entropy, 0], "k--", lw=1.2, label="R = H − D (bound)", gid="bound")
        ax.axvline(entropy, color="k", ls=":", lw=1, label="D = H", gid="entropy")
    ax.axhline(0, color="k", lw=0.8, gid="zero-rate")


def rd_plane_figure(results: Sequence[RunResult], title: str | None = None) -> Figure:
    """The runs on the rate–distortion plane: a scatter of (D, R) per family (``gid`` the
    family, colour β), the Pareto frontier (``gid="frontier"``) and the lines of
    :func:`_draw_bounds`. The caller closes the figure."""
    d = np.array([r.distortion for r in results])
    rates = np.array([r.rate for r in results])
    betas = np.array([r.beta for r in results])
    norm = _beta_norm(betas)
    entropies = {r.entropy for r in results if r.entropy is not None}
    entropy = entropies.pop() if len(entropies) == 1 else None
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    _draw_bounds(ax, entropy, float(d.max()) * 1.1, float(rates.max()) * 1.1)
    families = sorted({r.family for r in results})
    for i, family in enumerate(families):
        idx = [j for j, r in enumerate(results) if r.family == family]
        marker = MARKERS[i % len(MARKERS)]
        scatter = ax.scatter(d[idx], rates[idx], c=betas[idx], cmap="viridis", norm=norm,
                             marker=marker, s=60, edgecolors="k", zorder=3, gid=family)
        ax.scatter([], [], marker=marker, color="0.7", edgecolors="k", label=family)
    front = pareto_front(np.column_stack([d, rates]))
    ax.plot(front[:, 0], front[:, 1], color="C3", lw=1.5, label="Pareto frontier", zorder=2,
            gid="frontier")
    fig.colorbar(scatter, ax=ax, label="β")
    ax.set(xlabel="distortion D (nats)", ylabel="rate R (nats)",
           xlim=(0, max(d.max(), entropy or 0) * 1.1), ylim=(-0.5, rates.max() * 1.1 + 1),
           title=title or "rate–distortion plane (iso-ELBO lines in grey)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def plot_rd_plane(results: Sequence[RunResult], out: Path, title: str | None = None) -> list[Path]:
    """Draw the runs on the rate–distortion plane (:func:`rd_plane_figure`); writes ``out``
    as PNG and PDF."""
    fig = rd_plane_figure(results, title)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150)
    plt.close(fig)
    return paths
