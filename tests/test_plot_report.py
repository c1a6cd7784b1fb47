"""The plane and the table say what the rd.json files say: every drawn point, line and printed
cell is read back and compared with the records it came from.

The figure is read through its artists' data (scatter offsets, line vertices, labels), never
its pixels; the table is parsed back from its Markdown and CSV text.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rdframe.cli import main
from rdframe.evaluation.plot import pareto_front, plot_rd_plane, rd_plane_figure
from rdframe.evaluation.report import COLUMNS, markdown_table, write_csv
from rdframe.results import RunResult, find_results

ENTROPY = 30.0  # nats: the data's H, drawn as the bound R = H − D
# (β, encoder, rate, distortion, iwae_nll): R ≠ D everywhere, so a swap of the two shows;
# (12.5, 21.25) and (6.75, 27.5) are dominated by other points, the rest form the frontier.
RUNS = [
    (0.05, "mlp", 18.125, 14.5, 31.25),
    (0.3, "mlp", 9.5, 19.75, 28.0),
    (1.0, "mlp", 4.25, 26.0, 29.5),
    (4.0, "mlp", 0.875, 33.0, 33.5),
    (0.5, "conv", 12.5, 21.25, 32.5),
    (2.0, "conv", 6.75, 27.5, 33.75),
    (0.1, "conv", 15.0, 16.0, 30.625),
]


def record(beta: float, encoder: str, rate: float, distortion: float, nll: float) -> RunResult:
    """A results record of the kind `rdframe train` writes, with the given numbers."""
    return RunResult(
        rate=rate, distortion=distortion, elbo=-(rate + distortion), iwae_nll=nll,
        iwae_samples=100, beta=beta, objective="beta_vae", encoder=encoder, decoder="mlp",
        marginal="standard_normal", dataset="synthetic", entropy=ENTROPY, seed=0, epochs=3,
        steps=30 + int(10 * beta), train_seconds=round(1.5 + beta, 3),
    )


@pytest.fixture
def results(tmp_path) -> list[RunResult]:
    """The RUNS as rd.json files in one folder per run, read back as `rdframe plot` reads them."""
    for i, run in enumerate(RUNS):
        (tmp_path / "sweep" / str(i)).mkdir(parents=True)
        record(*run).write(tmp_path / "sweep" / str(i))
    return find_results([tmp_path / "sweep"])


# --- The plane: reading the figure back --------------------------------------------------------


def runs_drawn(fig: Figure) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """family → (the (D, R) offsets, the colour values β) of every non-empty scatter."""
    ax = fig.axes[0]
    drawn = {}
    for collection in ax.collections:
        if isinstance(collection, PathCollection) and len(collection.get_offsets()):
            drawn[collection.get_gid()] = (np.asarray(collection.get_offsets()),
                                           np.asarray(collection.get_array()))
    return drawn


def lines(fig: Figure, gid: str) -> list[Line2D]:
    return [line for line in fig.axes[0].get_lines() if line.get_gid() == gid]


def by_family(results: Sequence[RunResult]) -> dict[str, list[RunResult]]:
    families: dict[str, list[RunResult]] = {}
    for r in results:
        families.setdefault(r.family, []).append(r)
    return families


def test_every_run_is_a_point_at_distortion_rate_coloured_by_beta(results):
    fig = rd_plane_figure(results)
    drawn = runs_drawn(fig)
    expected = by_family(results)
    assert set(drawn) == set(expected) == {"mlp/mlp/standard_normal", "conv/mlp/standard_normal"}
    for family, runs in expected.items():
        offsets, colours = drawn[family]
        assert offsets.tolist() == [[r.distortion, r.rate] for r in runs]  # D on x, R on y
        assert colours.tolist() == [r.beta for r in runs]
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("distortion D") and ax.get_ylabel().startswith("rate R")
    legend = {text.get_text() for text in ax.get_legend().get_texts()}
    assert set(expected) <= legend and {"Pareto frontier", "R = H − D (bound)"} <= legend
    assert fig.axes[1].get_ylabel() == "β"  # the colour bar
    plt.close(fig)


def test_frontier_is_the_set_of_undominated_points(results):
    fig = rd_plane_figure(results)
    (frontier,) = lines(fig, "frontier")
    drawn = np.asarray(frontier.get_xydata()).tolist()
    points = [(r.distortion, r.rate) for r in results]
    undominated = sorted(p for p in points
                         if not any(q != p and q[0] <= p[0] and q[1] <= p[1] for q in points))
    assert drawn == [list(p) for p in undominated]  # brute force, sorted by D
    assert len(undominated) == 5  # two of the seven are dominated
    assert pareto_front(np.array(points)).tolist() == drawn
    plt.close(fig)


def test_pareto_front_drops_points_that_tie_and_lose():
    """(2, 3) ties (1, 3) in rate with more distortion, (1, 4) ties it in distortion with more
    rate: both are dominated; only strictly better runs stay on the frontier."""
    points = np.array([[2.0, 3.0], [1.0, 4.0], [1.0, 3.0], [3.0, 1.0], [3.0, 1.0]])
    assert pareto_front(points).tolist() == [[1.0, 3.0], [3.0, 1.0]]


def test_colour_scale_of_beta_is_logarithmic_over_positive_betas(results):
    fig = rd_plane_figure(results)
    for collection in fig.axes[0].collections:
        if len(collection.get_offsets()):
            assert isinstance(collection.norm, LogNorm)
            assert (collection.norm.vmin, collection.norm.vmax) == (0.05, 4.0)  # all β
    plt.close(fig)


def test_iso_elbo_lines_bound_and_edges_follow_the_mathematics(results):
    fig = rd_plane_figure(results)
    iso = lines(fig, "iso-elbo")
    assert len(iso) == 8
    for line in iso:  # R + D = c along each line, for a c that covers the runs' range
        d, r = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert np.allclose(d + r, d[0] + r[0]) and min(d) == 0 == min(r)
    sums = sorted(float(line.get_xdata()[1]) for line in iso)
    worst = max(r.rate + r.distortion for r in results)
    assert sums[-1] >= worst and np.allclose(np.diff(sums), sums[0])  # evenly spaced from 0
    (bound,) = lines(fig, "bound")  # R = H − D from (0, H) to (H, 0)
    d, r = np.asarray(bound.get_xdata()), np.asarray(bound.get_ydata())
    assert np.allclose(r, ENTROPY - d) and sorted(d.tolist()) == [0.0, ENTROPY]
    (edge,) = lines(fig, "entropy")  # the vertical D = H
    assert np.allclose(edge.get_xdata(), ENTROPY)
    (zero,) = lines(fig, "zero-rate")  # the horizontal R = 0
    assert np.allclose(zero.get_ydata(), 0.0)
    ax = fig.axes[0]
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] >= max(ENTROPY, *(r.distortion
                                                                       for r in results))
    assert ax.get_ylim()[1] > max(r.rate for r in results)
    plt.close(fig)


def test_without_a_known_entropy_there_is_no_bound_line():
    runs = [replace(record(*run), entropy=None) for run in RUNS[:3]]
    fig = rd_plane_figure(runs)
    assert not lines(fig, "bound") and not lines(fig, "entropy")
    assert len(lines(fig, "iso-elbo")) == 8
    plt.close(fig)


def test_plot_writes_the_same_figure_as_png_and_pdf(results, tmp_path):
    paths = plot_rd_plane(results, tmp_path / "plane", title="a title")
    assert paths == [tmp_path / "plane.png", tmp_path / "plane.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    assert not plt.get_fignums()  # closed after writing


def test_results_are_found_in_path_order_and_checked_for_finiteness(tmp_path):
    for name, run in zip(("b", "c", "a"), RUNS):  # made out of order
        (tmp_path / name).mkdir()
        record(*run).write(tmp_path / name)
    found = find_results([tmp_path])
    assert [Path(r.path).parent.name for r in found] == ["a", "b", "c"]
    assert [r.beta for r in found] == [RUNS[2][0], RUNS[0][0], RUNS[1][0]]
    assert all(r.is_finite() for r in found)
    assert not replace(found[0], rate=math.nan).is_finite()
    assert not replace(found[0], elbo=-math.inf).is_finite()


# --- The table: parsing the text back ----------------------------------------------------------

FLOATS = {"rate", "distortion", "elbo", "iwae_nll", "error", "train_seconds"}


def markdown_cells(table: str) -> tuple[list[str], list[list[str]]]:
    """(header, body rows) of a Markdown table."""
    lines_ = [line for line in table.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines_]
    assert set("".join(split[1])) <= {"-"}  # the rule under the header
    return split[0], split[2:]


def check_cells(header: Sequence[str], body: Sequence[Sequence[str]],
                results: Sequence[RunResult]) -> None:
    """Each cell equals its record's value at the printed precision (β to six significant
    digits, floats to three decimals), rows ordered by data set, family and β."""
    assert list(header) == list(COLUMNS)
    ordered = sorted(results, key=lambda r: (r.dataset, r.family, r.beta))
    assert len(body) == len(ordered)
    for row, r in zip(body, ordered):
        cells = dict(zip(header, row, strict=True))
        for column, cell in cells.items():
            value = getattr(r, column)
            if value is None:
                assert cell == "—", column
            elif column == "beta":
                assert float(cell) == pytest.approx(value, rel=5e-6), column
            elif column in FLOATS:
                assert len(cell.split(".")[1]) == 3, (column, cell)
                assert float(cell) == pytest.approx(value, abs=5e-4 + 1e-12), (column, cell)
            else:
                assert cell == str(value), column


def test_markdown_cells_equal_the_records(results):
    header, body = markdown_cells(markdown_table(results))
    assert header == ["beta", "objective", "encoder", "decoder", "marginal", "dataset", "rate",
                      "distortion", "elbo", "iwae_nll", "iwae_samples", "error", "epochs",
                      "train_seconds"]
    check_cells(header, body, results)
    rates = [float(row[COLUMNS.index("rate")]) for row in body]
    assert rates == [15.0, 12.5, 6.75, 18.125, 9.5, 4.25, 0.875]  # conv first, then mlp; by β


def test_csv_cells_equal_the_records(results, tmp_path):
    path = write_csv(results, tmp_path / "table.csv")
    header, *body = list(csv.reader(io.StringIO(path.read_text())))
    check_cells(header, body, results)


def test_report_command_prints_and_writes_the_records(results, tmp_path, capsys):
    main(["report", str(tmp_path / "sweep"), "--csv", str(tmp_path / "t.csv")])
    check_cells(*markdown_cells(capsys.readouterr().out), results)
    header, *body = list(csv.reader(io.StringIO((tmp_path / "t.csv").read_text())))
    check_cells(header, body, results)


def test_small_beta_and_missing_values_are_printed_faithfully():
    tiny = replace(record(1e-4, "mlp", 2.0, 3.0, 4.0), iwae_nll=None)
    header, body = markdown_cells(markdown_table([tiny]))
    check_cells(header, body, [tiny])
    cells = dict(zip(header, body[0]))
    assert cells["beta"] == "0.0001" and cells["iwae_nll"] == "—" and cells["error"] == "—"
    assert math.isclose(float(cells["elbo"]), -5.0)
