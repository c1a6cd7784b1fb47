"""The planes of a sweep, in nats, drawn from RunResult records:

- the rate–distortion plane of Alemi et al. (2018), Fig. 1: D on x, R on y;
- the information plane of the bottleneck (Alemi et al. 2017, objective "ib"): on x the rate
  R ≥ I(X;Z), on y H(Y) − D_y ≤ I(Z;Y).

Figures are matplotlib ``Figure`` objects on the Agg canvas, not pyplot's: plotting imports
neither torch nor Lightning nor pyplot, and changes no global state. Every kind of artist
carries a ``gid`` naming it, so that a test or a reader can find it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from rdframe.atomic import atomic_path
from rdframe.evaluation.select import BOTTLENECK, pareto_front, planes
from rdframe.results import RunResult

MARKERS = "osD^v<>pXh*"
INFORMATION_PLANE = "_information_plane"  # the suffix of the bottleneck's figure


def _beta_norm(betas: np.ndarray) -> Normalize:
    positive = betas[betas > 0]
    if len(positive) == len(betas) and positive.max() > positive.min():
        return LogNorm(positive.min(), positive.max())
    return Normalize(betas.min(), max(betas.max(), betas.min() + 1e-9))


def _limits(values: np.ndarray, margin_below: bool) -> tuple[float, float]:
    """Axis limits over ``values`` and 0, with a 10 % margin above, and below where asked or
    where a value is negative: a density decoder's negative distortion is never clipped.

    >>> _limits(np.array([2.0, 10.0]), margin_below=False)
    (0.0, 11.0)
    >>> _limits(np.array([-4.0, 6.0]), margin_below=False)
    (-5.0, 7.0)
    """
    low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
    pad = 0.1 * (high - low) or 1.0
    return (low - pad if margin_below or low < 0 else low), high + pad


def _one(values: Sequence[float | None]) -> float | None:
    """The value every record that has one agrees on, else None."""
    known = {v for v in values if v is not None}
    return known.pop() if len(known) == 1 else None


def _axes(figsize: tuple[float, float] = (6.4, 5.2)) -> tuple[Figure, Axes]:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _scatter_families(ax: Axes, results: Sequence[RunResult], x: np.ndarray, y: np.ndarray,
                      norm: Normalize) -> None:
    """One scatter of (x, y) per family (``gid`` the family, marker its own, colour β), with
    an empty scatter of the same marker as its legend entry."""
    betas = np.array([r.beta for r in results])
    for i, family in enumerate(sorted({r.family for r in results})):
        idx = [j for j, r in enumerate(results) if r.family == family]
        marker = MARKERS[i % len(MARKERS)]
        scatter = ax.scatter(x[idx], y[idx], c=betas[idx], cmap="viridis", norm=norm,
                             marker=marker, s=60, edgecolors="k", zorder=3, gid=family)
        ax.scatter([], [], marker=marker, color="0.7", edgecolors="k", label=family)
    ax.figure.colorbar(scatter, ax=ax, label="β")


def _draw_bounds(ax: Axes, entropy: float | None, d_low: float, c_high: float) -> None:
    """Iso-ELBO lines R + D = c from the left edge D = ``d_low`` down to R = 0, evenly spaced
    up to ``c_high``; the edge R = 0; and with H known the bound R = H − D and the edge D = H.
    """
    for c in np.linspace(d_low, c_high, 9)[1:]:
        ax.plot([d_low, c], [c - d_low, 0], color="0.85", lw=0.8, zorder=0, gid="iso-elbo")
    if entropy is not None:
        ax.plot([d_low, entropy], [entropy - d_low, 0], "k--", lw=1.2, label="R = H − D (bound)",
                gid="bound")
        ax.axvline(entropy, color="k", ls=":", lw=1, label="D = H", gid="entropy")
    ax.axhline(0, color="k", lw=0.8, gid="zero-rate")


def _draw_frontiers(ax: Axes, results: Sequence[RunResult]) -> None:
    """The Pareto frontier of each data set's runs (``gid="frontier"``)."""
    for i, runs in enumerate(planes(results).values()):
        front = np.array(pareto_front((r.distortion, r.rate) for r in runs)).reshape(-1, 2)
        ax.plot(front[:, 0], front[:, 1], color="C3", lw=1.5, zorder=2, gid="frontier",
                label="Pareto frontier" if i == 0 else None)


def _annotate_sigmas(ax: Axes, results: Sequence[RunResult]) -> None:
    """"σ=…" beside each target-rate run (``gid="sigma"``): its β says little, its σ all."""
    for r in results:
        if r.sigma is not None:
            ax.annotate(f"σ={r.sigma:g}", (r.distortion, r.rate), xytext=(5, 4), fontsize=7,
                        textcoords="offset points", gid="sigma")


def rd_plane_figure(results: Sequence[RunResult], title: str | None = None) -> Figure:
    """The runs on the rate–distortion plane: (D, R) per family, colour β, σ beside each
    target-rate run, each data set's Pareto frontier and the lines of :func:`_draw_bounds`.
    The axes cover every point, a negative D included."""
    d = np.array([r.distortion for r in results])
    rates = np.array([r.rate for r in results])
    entropy = _one([r.entropy for r in results])
    x_limits = _limits(d if entropy is None else np.append(d, entropy), margin_below=False)
    y_limits = _limits(rates, margin_below=True)
    fig, ax = _axes()
    _draw_bounds(ax, entropy, x_limits[0], x_limits[1] + y_limits[1])
    _scatter_families(ax, results, d, rates, _beta_norm(np.array([r.beta for r in results])))
    _annotate_sigmas(ax, results)
    _draw_frontiers(ax, results)
    ax.set(xlabel="distortion D (nats)", ylabel="rate R (nats)", xlim=x_limits, ylim=y_limits,
           title=title or "rate–distortion plane (iso-ELBO lines in grey)")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _ixz(r: RunResult) -> float:
    """R ≥ I(X;Z): ``ixz_upper`` where `rdframe evaluate` wrote it, else the run's rate."""
    return r.rate if r.ixz_upper is None else r.ixz_upper


def _izy(results: Sequence[RunResult]) -> np.ndarray | None:
    """H(Y) − D_y ≤ I(Z;Y) of each run, from ``izy_lower`` or else ``label_entropy``; None
    when a run has neither."""
    lower = [r.izy_lower if r.izy_lower is not None else
             None if r.label_entropy is None else r.label_entropy - r.distortion
             for r in results]
    return None if None in lower else np.array(lower)


def _draw_ceilings(ax: Axes, h_y: float | None, top: float) -> None:
    """The diagonal y = x (``gid="data-processing"``): I(Z;Y) ≤ I(X;Z); and the line y = H(Y)
    (``gid="label-entropy"``) when the runs agree on one H(Y)."""
    ax.plot([0, top], [0, top], color="0.6", lw=0.8, zorder=0, label="I(Z;Y) ≤ I(X;Z)",
            gid="data-processing")
    if h_y is not None:
        ax.axhline(h_y, color="k", ls="--", lw=1.2, label="H(Y)", gid="label-entropy")


def information_plane_figure(results: Sequence[RunResult], title: str | None = None) -> Figure:
    """Bottleneck runs on the information plane: x R ≥ I(X;Z) (:func:`_ixz`), y
    H(Y) − D_y ≤ I(Z;Y) (:func:`_izy`), per family, colour β, under the lines of
    :func:`_draw_ceilings`. Where a run's H(Y) is unknown, y is −D_y for every run (the same
    plane shifted down by H(Y)) and those lines are left out."""
    x = np.array([_ixz(r) for r in results])
    izy = _izy(results)
    y = -np.array([r.distortion for r in results]) if izy is None else izy
    h_y = None if izy is None else _one([r.label_entropy for r in results])
    x_limits = _limits(x, margin_below=True)
    y_limits = _limits(y if h_y is None else np.append(y, h_y), margin_below=True)
    fig, ax = _axes()
    if izy is not None:
        _draw_ceilings(ax, h_y, max(x_limits[1], y_limits[1]))
    _scatter_families(ax, results, x, y, _beta_norm(np.array([r.beta for r in results])))
    ylabel = "−D_y = E log c(y|z) (nats)" if izy is None else "H(Y) − D_y ≤ I(Z;Y) (nats)"
    ax.set(xlabel="rate R ≥ I(X;Z) (nats)", ylabel=ylabel, xlim=x_limits, ylim=y_limits,
           title=title or "information plane (bottleneck)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _save(fig: Figure, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, format=path.suffix[1:])
    return paths


def figures(results: Sequence[RunResult], title: str | None = None) -> dict[str, Figure]:
    """The figures of ``results`` by the suffix of their file's stem: "" the rate–distortion
    plane (:func:`rd_plane_figure`) of every run but the bottleneck's, "_information_plane"
    the information plane (:func:`information_plane_figure`) of the bottleneck's runs; each
    only when it has runs."""
    rd = [r for r in results if r.objective != BOTTLENECK]
    ib = [r for r in results if r.objective == BOTTLENECK]
    drawn = {"": rd_plane_figure(rd, title)} if rd else {}
    if ib:
        drawn[INFORMATION_PLANE] = information_plane_figure(ib, title)
    return drawn


def plot_rd_plane(results: Sequence[RunResult], out: Path, title: str | None = None) -> list[Path]:
    """Write the :func:`figures` of ``results`` as PNG and PDF, ``out``.{png,pdf} and
    ``out``_information_plane.{png,pdf}; returns the files written. A sweep of the bottleneck
    alone writes its information plane alone."""
    out = Path(out)
    return [path for suffix, fig in figures(results, title).items()
            for path in _save(fig, out.with_name(out.stem + suffix))]
