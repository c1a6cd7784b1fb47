"""Pictures saved by runs, composed into the paper's comparison figures (numpy only, no torch).

Every run writes ``pictures/pictures.npz`` beside its rd.json (:mod:`rdframe.pictures`):

==================  ======================  ==========================================
array               shape                   what
==================  ======================  ==========================================
``data``            (N, *shape)             the first N test images (the same in every run)
``reconstructions`` (R, N, *shape)          d(x|z) at R draws z ~ e(z|x) of each image
``samples``         (M, *shape)             d(x|z) at z ~ m(z)
``traversals``      (U, S, *shape)          unit u of E[z|x₀] set to S values of m(z_u)
``units``           (U,)                    the units traversed, most active first
``values``          (U, S)                  the values each takes
``activity``        (Z,)                    Var_x E[z_u|x] of every unit
==================  ======================  ==========================================

An image is the decoder's mean (a Bernoulli's pixel probabilities) where the family has one,
else one draw x ~ d(x|z). :func:`family_gallery` and :func:`group_gallery` put the same test
images, reconstructed by several runs, one row per run, as in Alemi et al., "Fixing a Broken
ELBO" (ICML 2018), Figs. 3 and 4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rdframe.atomic import atomic_path  # noqa: E402
from rdframe.errors import RDFrameError  # noqa: E402
from rdframe.results import ARRAYS, PICTURES, RunResult  # noqa: E402

GAP = 128  # grey level of the lines between images
SHOWN = 64  # pixels an image is enlarged to, at least (by a whole factor, nearest neighbour)


def as_planes(images: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Images of data shape ``shape`` as (..., H, W) grey or (..., H, W, 3) colour planes.

    (C, H, W) with C = 1 or 3 are images; (H, W) is one plane; a vector (D,) is one row.

    >>> as_planes(np.zeros((5, 1, 8, 8)), (1, 8, 8)).shape, as_planes(np.zeros((2, 7)), (7,)).shape
    ((5, 8, 8), (2, 1, 7))
    """
    lead = images.shape[: images.ndim - len(shape)]
    if len(shape) == 1:
        return images.reshape(*lead, 1, shape[0])
    if len(shape) == 2:
        return images
    if shape[0] == 3:
        return np.moveaxis(images, -3, -1)
    return images.reshape(*lead, -1, shape[-1])  # channels stacked top to bottom


def image_grid(
    images: np.ndarray,
    shape: Sequence[int],
    lo: float = 0.0,
    hi: float = 1.0,
    pad: int = 1,
    scale: int = 1,
) -> np.ndarray:
    """Tile images of shape (rows, cols, *shape) into one uint8 picture, ``pad`` pixels of grey
    between them, each pixel ``scale`` × ``scale``; values from ``lo`` (black) to ``hi``
    (white), clipped; NaN images left blank.

    >>> grid = image_grid(np.ones((2, 3, 1, 8, 8)), (1, 8, 8))
    >>> grid.shape, grid.dtype, int(grid[0, 0]), int(grid[0, 8])
    ((17, 26), dtype('uint8'), 255, 128)
    >>> image_grid(np.ones((2, 3, 1, 8, 8)), (1, 8, 8), scale=2).shape
    (33, 50)
    """
    planes = as_planes(images, shape)  # (rows, cols, H, W[, 3])
    planes = planes.repeat(scale, axis=2).repeat(scale, axis=3)  # (rows, cols, sH, sW[, 3])
    rows, cols, h, w = planes.shape[:4]
    scaled = np.clip((planes - lo) / (hi - lo if hi > lo else 1.0), 0, 1) * 255
    scaled = np.where(np.isnan(scaled), GAP, scaled)
    grid = np.full(((h + pad) * rows - pad, (w + pad) * cols - pad, *planes.shape[4:]), GAP,
                   dtype=np.uint8)
    for i in range(rows):
        for j in range(cols):
            grid[i * (h + pad): i * (h + pad) + h, j * (w + pad): j * (w + pad) + w] = \
                np.round(scaled[i, j])
    return grid


def tile(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """A flat stack (M, *shape) as (rows, ``columns``, *shape), the last row filled with NaN.

    >>> tile(np.zeros((10, 1, 2, 2)), 4).shape
    (3, 4, 1, 2, 2)
    """
    columns = max(1, min(columns, len(images)))
    rows = math.ceil(len(images) / columns)  # 0 for no images: an empty grid
    blank = np.full((rows * columns - len(images), *images.shape[1:]), np.nan)
    return np.concatenate([images.astype(float), blank]).reshape(rows, columns, *images.shape[1:])


def data_range(data: np.ndarray) -> tuple[float, float]:
    """The grey levels to show black and white: [0, 1] for data inside it, else its range."""
    lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
    return (0.0, 1.0) if lo >= 0 and hi <= 1 else (lo, hi)


def grids(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The pictures of one run as uint8 grids: ``reconstructions`` (a row of the data, then one
    row per draw z ~ e(z|x)), ``samples`` (8 per row) and ``traversals`` (a row per unit),
    each image enlarged to :data:`SHOWN` pixels or more; a kind with no images has no grid."""
    data = arrays["data"]
    shape, span = data.shape[1:], data_range(data)
    scale = enlargement(shape)
    out = {"reconstructions": np.concatenate([data[None], arrays["reconstructions"]]),
           "samples": tile(arrays["samples"]), "traversals": arrays.get("traversals")}
    return {name: image_grid(images, shape, *span, scale=scale)
            for name, images in out.items() if images is not None and images.size}


def enlargement(shape: Sequence[int]) -> int:
    """The whole factor that shows an image of data shape ``shape`` at least :data:`SHOWN`
    pixels across: 8 for 8×8 digits, 3 for 28×28 MNIST.

    >>> enlargement((1, 8, 8)), enlargement((1, 28, 28)), enlargement((3, 256, 256))
    (8, 3, 1)
    """
    return max(1, -(-SHOWN // max(shape[-2:])))


def write_png(grid: np.ndarray, path: Path) -> Path:
    """One uint8 picture to ``path`` at one pixel per pixel, written atomically."""
    with atomic_path(path) as tmp:
        plt.imsave(tmp, grid, cmap="gray", vmin=0, vmax=255)
    return Path(path)


def save_pictures(arrays: dict[str, np.ndarray], folder: Path) -> list[Path]:
    """``folder``/pictures.npz and a PNG per grid of :func:`grids`; the paths written."""
    folder = Path(folder)
    with atomic_path(folder / ARRAYS) as tmp, tmp.open("wb") as stream:
        np.savez_compressed(stream, **arrays)
    pngs = [write_png(grid, folder / f"{name}.png") for name, grid in grids(arrays).items()]
    return [folder / ARRAYS, *pngs]


def load_pictures(result: RunResult) -> dict[str, np.ndarray] | None:
    """The arrays a run saved beside its rd.json, or None when it saved none."""
    path = Path(result.path or ".").parent / PICTURES / ARRAYS
    if not path.is_file():
        return None
    with np.load(path) as arrays:
        return dict(arrays)


def reconstruction_figure(
    data: np.ndarray, rows: Sequence[tuple[str, np.ndarray]], title: str | None = None
) -> Figure:
    """The test images ``data`` (N, *shape) on top, then one labelled row (N, *shape) per run.
    The caller closes the figure."""
    shape, span = data.shape[1:], data_range(data)
    labelled = [("data", data), *rows]
    row, top = 0.6, 0.4 if title else 0.1  # inches: a strip's height, the title's margin
    label = 0.3 + 0.075 * max(len(name) for name, _ in labelled)  # at 8 points
    width, height = label + row * len(data) + 0.1, (row + 0.1) * len(labelled) + top
    fig, axes = plt.subplots(len(labelled), 1, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=label / width, right=1 - 0.05 / width, bottom=0.05 / height,
                        top=1 - top / height, hspace=0.1 / row)
    for ax, (name, images) in zip(axes[:, 0], labelled, strict=True):
        ax.imshow(image_grid(images[None], shape, *span, scale=enlargement(shape)), cmap="gray",
                  vmin=0, vmax=255, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.05 / height, va="top")
    return fig


def _pictured(results: Sequence[RunResult]) -> list[tuple[RunResult, dict[str, np.ndarray]]]:
    pairs = [(r, load_pictures(r)) for r in results]
    return [(r, a) for r, a in pairs if a is not None]


def _save(fig: Figure, out: Path) -> list[Path]:
    paths = [Path(out).with_suffix(".png"), Path(out).with_suffix(".pdf")]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=200)
    plt.close(fig)
    return paths


def _same_images(pictured: list[tuple[RunResult, dict[str, np.ndarray]]]) -> np.ndarray:
    """The test images every run reconstructed; an RDFrameError if the runs differ in them."""
    data = pictured[0][1]["data"]
    for result, arrays in pictured[1:]:
        if arrays["data"].shape != data.shape or not np.allclose(arrays["data"], data):
            raise RDFrameError(f"{result.path} pictured other test images than "
                               f"{pictured[0][0].path}; compare runs of one data set and "
                               f"the same pictures.images")
    return data


Rows = list[tuple[str, np.ndarray]]


def family_rows(results: Sequence[RunResult], beta: float = 1.0) -> tuple[np.ndarray, Rows]:
    """The test images, and per family a row (its label, its first draw's reconstructions)
    from the first run of that family in ``results`` at β = ``beta`` with pictures, a
    β-weighted objective's (not a target rate's, whose β weighs another term); an
    RDFrameError if there is none. The paper's families come in the order of their symbols
    (−−−, −−v, −−+, −+−, …), any others after them by name."""
    chosen: dict[str, tuple[RunResult, dict[str, np.ndarray]]] = {}
    at_beta = [r for r in results
               if math.isclose(r.beta, beta, rel_tol=1e-9) and r.sigma is None]
    for result, arrays in _pictured(at_beta):
        chosen.setdefault(result.family, (result, arrays))
    if not chosen:
        raise RDFrameError(f"no run at beta={beta:g} with pictures/{ARRAYS} among "
                           f"{len(results)} runs; train with pictures.enabled=true")
    pictured = [chosen[family] for family in sorted(chosen, key=family_order)]
    rows = [(r.family, a["reconstructions"][0]) for r, a in pictured]
    return _same_images(pictured), rows


SYMBOL_ORDER = "−v+"  # a slot's choices in the paper's order: fixed, VampPrior, learned


def family_order(family: str) -> tuple[int, str]:
    """Sort key of a family: the paper's by their symbols, "−" before "v" before "+", slot by
    slot; any other family after them, by name.

    >>> sorted(["+−−", "−−+", "mlp/mlp/mog", "−−v", "−+−", "−−−"], key=family_order)
    ['−−−', '−−v', '−−+', '−+−', '+−−', 'mlp/mlp/mog']
    """
    if len(family) != 3 or not set(family) <= set(SYMBOL_ORDER):
        return len(SYMBOL_ORDER) ** 3, family
    rank = 0
    for symbol in family:
        rank = rank * len(SYMBOL_ORDER) + SYMBOL_ORDER.index(symbol)
    return rank, family


def family_gallery(
    results: Sequence[RunResult], out: Path, beta: float = 1.0, title: str | None = None
) -> list[Path]:
    """The same test images reconstructed by every family at β = ``beta``, one row each
    labelled with its family (:func:`family_rows`); writes ``out`` as PNG and PDF."""
    data, rows = family_rows(results, beta)
    return _save(reconstruction_figure(data, rows, title or f"reconstructions at β = {beta:g}"),
                 out)


def group_label(result: RunResult) -> str:
    """A row's label: family, β (σ for a target rate), rate and distortion (nats).

    >>> group_label(RunResult(12.3, 80.04, -92.3, None, 0, 0.5, "beta_vae", "conv", "conv",
    ...                       "vamp", "mnist", None, 0, 1, 1, 1.0))
    '−−v β=0.5 R=12.3 D=80.0'
    >>> group_label(RunResult(10.4, 125.4, -135.8, None, 0, 1.0, "target_rate", "conv",
    ...                       "pixelcnn", "standard_normal", "mnist", None, 0, 1, 1, 1.0,
    ...                       sigma=10.0))
    '−+− σ=10 R=10.4 D=125.4'
    """
    weight = f"β={result.beta:g}" if result.sigma is None else f"σ={result.sigma:g}"
    return f"{result.family} {weight} R={result.rate:.1f} D={result.distortion:.1f}"


def group_rows(results: Sequence[RunResult]) -> tuple[np.ndarray, Rows]:
    """The test images, and per run of ``results`` in order a row (:func:`group_label`, its
    first draw's reconstructions); an RDFrameError names the runs without pictures."""
    if not results:
        raise RDFrameError("a group of runs to compare needs at least one run")
    pictured = _pictured(results)
    missing = sorted({str(r.path) for r in results} - {str(r.path) for r, _ in pictured})
    if missing:
        raise RDFrameError(f"no pictures/{ARRAYS} beside {', '.join(missing)}; give runs "
                           f"trained with pictures.enabled=true")
    rows = [(group_label(r), a["reconstructions"][0]) for r, a in pictured]
    return _same_images(pictured), rows


def group_gallery(
    results: Sequence[RunResult], out: Path, title: str | None = None
) -> list[Path]:
    """The same test images reconstructed by each run of ``results`` (e.g. runs of one ELBO
    but different rates), one row each labelled with family, β, R and D (:func:`group_rows`);
    writes ``out`` as PNG and PDF."""
    data, rows = group_rows(results)
    return _save(reconstruction_figure(data, rows, title), out)


def comparison_figures(
    results: Sequence[RunResult], stem: Path, tolerance: float = 1.0, min_rate_gap: float = 5.0
) -> list[Path]:
    """The paper's two comparison figures (Alemi et al. 2018, Fig. 1c and 1d) where the runs
    allow them: STEM_families.{png,pdf}, every family at β = 1 (:func:`family_gallery`), and
    STEM_same_elbo.{png,pdf}, the first group of runs of one ELBO but different rates
    (:func:`~rdframe.evaluation.select.same_elbo_groups`, every run of it with pictures,
    :func:`group_gallery`). Runs of the bottleneck, which draw no images, are left out."""
    from rdframe.evaluation.select import same_elbo_groups

    stem = Path(stem)
    pictured = [r for r, _ in _pictured(results) if r.elbo is not None]
    paths: list[Path] = []
    if any(math.isclose(r.beta, 1.0) for r in pictured):
        paths += family_gallery(pictured, stem.with_name(stem.name + "_families"))
    groups = same_elbo_groups(pictured, tolerance, min_rate_gap)
    if groups:
        title = f"one ELBO (within {tolerance:g} nats), different rates"
        paths += group_gallery(groups[0], stem.with_name(stem.name + "_same_elbo"), title)
    return paths
