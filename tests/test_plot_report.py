"""The plane and the table say what the rd.json files say: every drawn point, line and printed
cell is read back and compared with the records it came from.

The figure is read through its artists' data (scatter offsets, line vertices, labels), never
its pixels; the table is parsed back from its Markdown and CSV text.
"""

from __future__ import annotations

import csv
import io
import math
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rdframe.cli import main
from rdframe.evaluation.plot import figures, plot_rd_plane, rd_plane_figure
from rdframe.evaluation.report import COLUMNS, markdown_report, markdown_table, write_csv
from rdframe.evaluation.select import pareto_front
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


def test_frontier_is_the_set_of_undominated_points(results):
    fig = rd_plane_figure(results)
    (frontier,) = lines(fig, "frontier")
    drawn = np.asarray(frontier.get_xydata()).tolist()
    points = [(r.distortion, r.rate) for r in results]
    undominated = sorted(p for p in points
                         if not any(q != p and q[0] <= p[0] and q[1] <= p[1] for q in points))
    assert drawn == [list(p) for p in undominated]  # brute force, sorted by D
    assert len(undominated) == 5  # two of the seven are dominated
    assert [list(p) for p in pareto_front(points)] == drawn


def test_pareto_front_drops_points_that_tie_and_lose():
    """(2, 3) ties (1, 3) in rate with more distortion, (1, 4) ties it in distortion with more
    rate: both are dominated; only strictly better runs stay on the frontier."""
    points = [(2.0, 3.0), (1.0, 4.0), (1.0, 3.0), (3.0, 1.0), (3.0, 1.0)]
    assert pareto_front(points) == [(1.0, 3.0), (3.0, 1.0)]


def test_colour_scale_of_beta_is_logarithmic_over_positive_betas(results):
    fig = rd_plane_figure(results)
    for collection in fig.axes[0].collections:
        if len(collection.get_offsets()):
            assert isinstance(collection.norm, LogNorm)
            assert (collection.norm.vmin, collection.norm.vmax) == (0.05, 4.0)  # all β


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


def test_without_a_known_entropy_there_is_no_bound_line():
    runs = [replace(record(*run), entropy=None) for run in RUNS[:3]]
    fig = rd_plane_figure(runs)
    assert not lines(fig, "bound") and not lines(fig, "entropy")
    assert len(lines(fig, "iso-elbo")) == 8


def test_plot_writes_the_same_figure_as_png_and_pdf(results, tmp_path):
    paths = plot_rd_plane(results, tmp_path / "plane", title="a title")
    assert paths == [tmp_path / "plane.png", tmp_path / "plane.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    assert min(path.stat().st_size for path in paths) > 5_000


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

FLOATS = {"sigma", "rate", "distortion", "elbo", "iwae_nll", "error", "train_seconds"}
HEADER = ["beta", "objective", "family", "dataset", "rate", "distortion", "elbo", "iwae_nll",
          "iwae_samples", "error", "epochs", "train_seconds", "frontier"]


def markdown_cells(table: str) -> tuple[list[str], list[list[str]]]:
    """(header, body rows) of a Markdown table."""
    lines_ = [line for line in table.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines_]
    assert set("".join(split[1])) <= {"-"}  # the rule under the header
    return split[0], split[2:]


def undominated(run: RunResult, results: Sequence[RunResult]) -> bool:
    """No run of the same data set and kind (bottleneck or not) has lower or equal D and R at
    another point: brute force, the definition of the frontier."""
    rivals = [q for q in results if (q.dataset, q.objective == "ib") ==
              (run.dataset, run.objective == "ib")]
    return not any(q.distortion <= run.distortion and q.rate <= run.rate
                   and (q.distortion, q.rate) != (run.distortion, run.rate) for q in rivals)


def check_cells(header: Sequence[str], body: Sequence[Sequence[str]],
                results: Sequence[RunResult]) -> None:
    """Each cell equals its record's value at the printed precision (β to six significant
    digits, floats to three decimals; ``frontier`` "yes" exactly for the undominated runs),
    rows ordered by data set, family, objective, β and σ."""
    sigma = ["sigma"] if any(r.sigma is not None for r in results) else []
    assert list(header) == HEADER[:1] + sigma + HEADER[1:]
    ordered = sorted(results, key=lambda r: (r.dataset, r.family, r.objective, r.beta,
                                             r.sigma is not None, r.sigma or 0))
    assert len(body) == len(ordered)
    for row, r in zip(body, ordered):
        cells = dict(zip(header, row, strict=True))
        assert cells.pop("frontier") == ("yes" if undominated(r, results) else "no")
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
    assert header == HEADER == list(COLUMNS)
    check_cells(header, body, results)
    rates = [float(row[COLUMNS.index("rate")]) for row in body]
    assert rates == [15.0, 12.5, 6.75, 18.125, 9.5, 4.25, 0.875]  # conv first, then mlp; by β
    front = [row[COLUMNS.index("frontier")] for row in body]
    assert front == ["yes", "no", "no", "yes", "yes", "yes", "yes"]  # (12.5, …), (6.75, …) lose


def test_csv_cells_equal_the_records(results, tmp_path):
    path = write_csv(results, tmp_path / "table.csv")
    header, *body = list(csv.reader(io.StringIO(path.read_text())))
    check_cells(header, body, results)


def test_report_command_prints_and_writes_the_records(results, tmp_path, capsys):
    main(["report", str(tmp_path / "sweep"), "--csv", str(tmp_path / "t.csv")])
    out = capsys.readouterr().out
    check_cells(*markdown_cells(out), results)
    assert list(sections(out)) == ["Pareto frontier", "Best ELBO", "Same ELBO, different rates"]
    header, *body = list(csv.reader(io.StringIO((tmp_path / "t.csv").read_text())))
    check_cells(header, body, results)


def test_report_command_passes_the_rate_and_the_tolerances_on(results, tmp_path, capsys):
    """On the RUNS: no run pair spans 12 nats of rate, so --min-rate-gap 12 leaves no group;
    within 0.25 nats of ELBO only −33.875 and −33.75 (R 0.875 and 12.5) pair up."""
    sweep = str(tmp_path / "sweep")
    main(["report", sweep, "--min-rate", "10", "--elbo-tolerance", "0.5", "--min-rate-gap", "12"])
    found = sections(capsys.readouterr().out)
    assert [described(line)[0] for line in found["Lowest distortion at R ≥ 10"]] == [0.05]
    assert found["Same ELBO, different rates"] == []
    main(["report", sweep, "--elbo-tolerance", "0.25", "--min-rate-gap", "10.5"])
    out = capsys.readouterr().out
    assert "ELBOs differ by at most 0.25 but whose rates by at least 10.5 (nats)" in out
    groups = sections(out)["Same ELBO, different rates"]
    assert [described(line)[0] for line in groups[1:]] == [4.0, 0.5]


@pytest.mark.parametrize(("command", "option"), [
    ("report", "--min-rate"), ("report", "--elbo-tolerance"), ("report", "--min-rate-gap"),
    ("plot", "--elbo-tolerance"), ("plot", "--min-rate-gap")])
@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_report_and_plot_refuse_a_negative_or_non_finite_number_of_nats(
    results, tmp_path, capsys, command, option, value
):
    with pytest.raises(SystemExit) as stopped:
        main([command, str(tmp_path / "sweep"), f"{option}={value}", "-o", str(tmp_path / "p")]
             if command == "plot" else [command, str(tmp_path / "sweep"), f"{option}={value}"])
    assert stopped.value.code == 2
    assert f"{option} must be a finite number of nats >= 0" in capsys.readouterr().err


def test_small_beta_and_missing_values_are_printed_faithfully():
    tiny = replace(record(1e-4, "mlp", 2.0, 3.0, 4.0), iwae_nll=None)
    header, body = markdown_cells(markdown_table([tiny]))
    check_cells(header, body, [tiny])
    cells = dict(zip(header, body[0]))
    assert cells["beta"] == "0.0001" and cells["iwae_nll"] == "—" and cells["error"] == "—"
    assert math.isclose(float(cells["elbo"]), -5.0)


def bottleneck(beta: float, rate: float, d_y: float, **fields: float | None) -> RunResult:
    """A bottleneck run (objective "ib"): no ELBO, D_y = −E log c(y|z), H(Y) = LABEL_ENTROPY."""
    values = dict(ixz_upper=rate, label_entropy=LABEL_ENTROPY, izy_lower=LABEL_ENTROPY - d_y,
                  error=0.25) | fields
    return replace(record(beta, "mlp", rate, d_y, 0.0), objective="ib", decoder="classifier",
                   elbo=None, iwae_nll=None, iwae_samples=0, dataset="digits", entropy=None,
                   **values)


def test_the_paper_families_sigma_and_the_bottleneck_in_one_table():
    """σ gets a column after β; the paper's choices print as three symbols; a bottleneck run's
    ELBO is a dash; and each data set, the bottleneck's runs apart, has its own frontier."""
    paper = [replace(record(1.0, "conv", 5.0, 40.0, 45.0), decoder="pixelcnn", marginal="vamp"),
             replace(record(1.0, "iaf", 10.0, 30.0, 39.0), decoder="conv", objective="target_rate",
                     sigma=10.0)]
    ib = [bottleneck(0.01, 4.0, 0.5), bottleneck(0.1, 1.0, 2.0)]  # far below every VAE point
    header, body = markdown_cells(markdown_table(paper + ib))
    check_cells(header, body, paper + ib)
    cells = [dict(zip(header, row)) for row in body]
    assert [c["family"] for c in cells] == ["mlp/classifier/standard_normal"] * 2 + ["+−−", "−+v"]
    assert [c["sigma"] for c in cells] == ["—", "—", "10.000", "—"]
    assert [c["elbo"] for c in cells] == ["—", "—", "-40.000", "-45.000"]
    assert [c["frontier"] for c in cells] == ["yes"] * 4  # the ib runs knock no VAE run off


# --- The report's sections: the selections, read back -------------------------------------------


def sections(report: str) -> dict[str, list[str]]:
    """Section title → its bullet lines (without "- "), from the report's Markdown."""
    found: dict[str, list[str]] = {}
    for part in report.split("\n## ")[1:]:
        title, *text = part.splitlines()
        found[title] = [line.strip()[2:] for line in text if line.strip().startswith("- ")]
    return found


def described(line: str) -> tuple[float, float, float, str]:
    """(β, R, D, folder) of a run as the report describes it."""
    match = re.search(r"β=(\S+) .*R=(\S+) D=(\S+) ELBO=\S+ \((.+)\)$", line)
    assert match, line
    beta, rate, distortion, folder = match.groups()
    return float(beta), float(rate), float(distortion), Path(folder).name


def as_described(r: RunResult) -> tuple[float, float, float, str]:
    return r.beta, r.rate, r.distortion, Path(r.path).parent.name


def test_report_sections_name_the_runs_the_selections_pick(results):
    """On the seven RUNS (ELBO = −(R + D)): the frontier is the five undominated runs by D;
    the best ELBO −29.25 is β = 0.3; of the runs with R ≥ 10 the lowest D is β = 0.05's 14.5;
    with ELBOs within 1 nat and rates 5 apart, the widest group is β = 4, 2, 0.5 (ELBOs
    −33.875, −34.25, −33.75; R 0.875 to 12.5), then β = 1, 0.1 (−30.25, −31; R 4.25, 15)."""
    found = sections(markdown_report(results, min_rate=10.0, elbo_tolerance=1.0,
                                     min_rate_gap=5.0))
    assert list(found) == ["Pareto frontier", "Best ELBO", "Lowest distortion at R ≥ 10",
                           "Same ELBO, different rates"]
    front = sorted((r for r in results if undominated(r, results)), key=lambda r: r.distortion)
    assert [described(line) for line in found["Pareto frontier"]] == list(map(as_described,
                                                                              front))
    assert all(line.startswith("synthetic: ") for line in found["Pareto frontier"])
    (best,) = [described(line) for line in found["Best ELBO"]]
    assert best[:3] == (0.3, 9.5, 19.75) and "ELBO=-29.250" in found["Best ELBO"][0]
    (lowest,) = [described(line) for line in found["Lowest distortion at R ≥ 10"]]
    assert lowest[:3] == (0.05, 18.125, 14.5)
    groups = found["Same ELBO, different rates"]
    assert groups[0] == "synthetic: ELBO -31.000 to -30.250, rates 10.750 apart:"
    assert [described(line)[0] for line in groups[1:3]] == [1.0, 0.1]  # by rate
    assert groups[3] == "synthetic: ELBO -34.250 to -33.750, rates 11.625 apart:"
    assert [described(line)[0] for line in groups[4:]] == [4.0, 2.0, 0.5]


def test_report_says_when_no_run_reaches_the_rate_or_forms_a_group(results):
    found = sections(markdown_report(results, min_rate=100.0, elbo_tolerance=0.25,
                                     min_rate_gap=50.0))
    assert found["Lowest distortion at R ≥ 100"] == [
        "synthetic: no run has R ≥ 100 (the highest rate is 18.125)."]
    assert found["Same ELBO, different rates"] == []
    assert "No such runs." in markdown_report(results, elbo_tolerance=0.25, min_rate_gap=50.0)
    ib_only = markdown_report([bottleneck(0.01, 4.0, 0.5)])
    assert "No run has an ELBO" in ib_only and "digits (ib): β=0.01" in ib_only


# --- Negative distortion, target rates and the information plane ------------------------------


def test_a_negative_distortion_is_drawn_not_clipped():
    """A density decoder's D can be negative (and a differential entropy H too): the axis,
    the iso-ELBO lines and the bound reach the leftmost point."""
    runs = [replace(record(b, "mlp", r, d, 0.0), entropy=-25.0)
            for b, r, d in [(0.5, 30.0, -40.5), (1.0, 12.0, -12.25), (4.0, 2.5, 3.0)]]
    fig = rd_plane_figure(runs)
    ((offsets, _),) = runs_drawn(fig).values()
    assert offsets.tolist() == [[r.distortion, r.rate] for r in runs]
    low, high = fig.axes[0].get_xlim()
    assert low < -40.5 and high > 3.0
    for line in lines(fig, "iso-elbo"):
        d, r = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert d[0] == low and r[1] == 0 and np.isclose(d[0] + r[0], d[1] + r[1])
    sums = sorted(float(line.get_xdata()[1]) for line in lines(fig, "iso-elbo"))
    assert np.allclose(np.diff([low, *sums]), sums[0] - low)  # evenly spaced from the left edge
    (bound,) = lines(fig, "bound")
    d, r = np.asarray(bound.get_xdata()), np.asarray(bound.get_ydata())
    assert d.tolist() == [low, -25.0] and np.allclose(r, -25.0 - d)
    (frontier,) = lines(fig, "frontier")
    assert np.asarray(frontier.get_xydata()).tolist() == [[-40.5, 30.0], [-12.25, 12.0],
                                                          [3.0, 2.5]]


def test_each_data_set_has_its_own_frontier():
    """A run of one data set cannot dominate a run of another: their distortions differ in
    kind. Two data sets, two frontiers, each over its own runs."""
    other = [replace(record(*run), dataset="mnist", rate=run[2] + 100) for run in RUNS[:2]]
    results_ = [record(*run) for run in RUNS] + other
    fig = rd_plane_figure(results_)
    drawn = sorted(np.asarray(line.get_xydata()).tolist() for line in lines(fig, "frontier"))
    by_set = [[(r.distortion, r.rate) for r in results_ if r.dataset == name]
              for name in ("mnist", "synthetic")]
    assert drawn == sorted([list(p) for p in pareto_front(points)] for points in by_set)
    assert sorted(map(len, drawn)) == [2, 5]  # mnist's two runs both on its own frontier


def test_target_rate_runs_carry_their_sigma():
    runs = [replace(record(1.0, "mlp", r, d, 0.0), objective="target_rate", sigma=s)
            for s, r, d in [(5.0, 5.25, 25.0), (15.0, 14.5, 17.0)]] + [record(*RUNS[0])]
    labels = [t for t in rd_plane_figure(runs).axes[0].texts if t.get_gid() == "sigma"]
    assert [(t.get_text(), t.xy) for t in labels] == [("σ=5", (25.0, 5.25)),
                                                      ("σ=15", (17.0, 14.5))]


LABEL_ENTROPY = 2.25  # nats: H(Y) of the bottleneck's labels


def test_information_plane_draws_the_bottleneck_runs_from_their_records():
    """x = I(X;Z)'s upper bound (ixz_upper, else the rate), y = izy_lower = H(Y) − D_y, colour
    β, under the ceiling y = H(Y) and the diagonal y = x; the VAE runs stay on the RD plane."""
    ib = [bottleneck(0.001, 30.0, 0.25, ixz_upper=29.5), bottleneck(0.01, 9.0, 0.5),
          bottleneck(0.1, 3.0, 1.5, izy_lower=None),  # H(Y) − D_y from the label entropy
          bottleneck(1.0, 0.125, 2.5, ixz_upper=None)]  # I(Z;Y) ≥ H(Y) − D_y < 0 here
    drawn = figures([*ib, record(*RUNS[0])])
    assert list(drawn) == ["", "_information_plane"]
    assert runs_drawn(drawn[""])["mlp/mlp/standard_normal"][0].tolist() == [[14.5, 18.125]]
    fig = drawn["_information_plane"]
    ((offsets, betas),) = runs_drawn(fig).values()
    assert offsets.tolist() == [[29.5, 2.0], [9.0, 1.75], [3.0, 0.75], [0.125, -0.25]]
    assert betas.tolist() == [0.001, 0.01, 0.1, 1.0]
    (ceiling,) = lines(fig, "label-entropy")
    assert np.allclose(ceiling.get_ydata(), LABEL_ENTROPY)
    (diagonal,) = lines(fig, "data-processing")
    assert np.array_equal(diagonal.get_xdata(), diagonal.get_ydata())
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("rate R ≥ I(X;Z)")
    assert ax.get_ylabel().startswith("H(Y) − D_y ≤ I(Z;Y)")
    assert ax.get_ylim()[0] < -0.25 and ax.get_ylim()[1] > LABEL_ENTROPY


def test_information_plane_without_the_label_entropy_shows_minus_d_y():
    ib = [bottleneck(0.01, 9.0, 0.5), bottleneck(0.1, 3.0, 1.5, izy_lower=None,
                                                   label_entropy=None)]
    fig = figures(ib)["_information_plane"]
    ((offsets, _),) = runs_drawn(fig).values()
    assert offsets.tolist() == [[9.0, -0.5], [3.0, -1.5]]
    assert fig.axes[0].get_ylabel().startswith("−D_y")
    assert not lines(fig, "label-entropy") and not lines(fig, "data-processing")


def test_plot_writes_the_information_plane_beside_the_rd_plane(tmp_path):
    ib = [bottleneck(0.01, 9.0, 0.5), bottleneck(0.1, 3.0, 1.5)]
    both = plot_rd_plane([*ib, record(*RUNS[0])], tmp_path / "plane")
    assert [p.name for p in both] == ["plane.png", "plane.pdf", "plane_information_plane.png",
                                      "plane_information_plane.pdf"]
    alone = plot_rd_plane(ib, tmp_path / "ib" / "plane")
    assert [p.name for p in alone] == ["plane_information_plane.png",
                                       "plane_information_plane.pdf"]
    assert all(path.stat().st_size > 5_000 for path in both + alone)
    assert sorted(p.name for p in (tmp_path / "ib").iterdir()) == [p.name for p in alone][::-1]


# --- Start-up: the results side imports neither torch nor Lightning ---------------------------

HEAVY = ("torch", "lightning", "pytorch_lightning", "matplotlib.pyplot")


@pytest.mark.parametrize("command", [["report", "--min-rate", "1"], ["plot", "-o", "plane"]])
def test_plot_and_report_import_neither_torch_nor_lightning(results, tmp_path, command):
    """Each command run as a user runs it, in a fresh interpreter; it must leave no heavy
    module behind (pyplot included: figures are drawn on the Agg canvas)."""
    code = ("import sys; from rdframe.cli import main; main(sys.argv[1:]); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, command[0], str(tmp_path / "sweep"),
                           *command[1:]], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert command[0] == "report" or (tmp_path / "plane.png").stat().st_size > 5_000
