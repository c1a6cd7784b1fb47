"""Pictures of a run: written beside rd.json, of the right shapes and range, reproducible from the
seed, faithful to the model (a reconstruction looks like its own image), and composed into the
comparison galleries from the saved arrays alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config, rdframe, trained_run
from matplotlib.pyplot import imread
from torch.utils.data import TensorDataset

from rdframe.decoders import BernoulliMLPDecoder, LogisticMLPDecoder, PixelCNNDecoder
from rdframe.encoders import GaussianMLPEncoder
from rdframe.errors import ConfigError, RDFrameError
from rdframe.evaluation.gallery import (
    ARRAYS,
    PICTURES,
    enlargement,
    family_gallery,
    family_rows,
    group_gallery,
    group_rows,
    save_pictures,
)
from rdframe.marginals import StandardNormal
from rdframe.model import RDModel
from rdframe.pictures import RANKED, make_pictures, spread, spread_images
from rdframe.results import RunResult, find_results
from rdframe.train import run

QUICK = ["latent_dim=8", "iwae_samples=8", "logger=none", "~callbacks.checkpoint",
         "trainer.enable_progress_bar=false"]
COUNTS = {"images": 8, "reconstructions": 3, "samples": 16, "traversal_units": 5,
          "traversal_steps": 7}
FILES = ("reconstructions.png", "samples.png", "traversals.png", ARRAYS)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits model trained at β = 0.05 (R ≈ 20 nats, D ≈ 10): a high rate, so a
    reconstruction resembles its own image. The pictures' counts are spelled out, so that the
    shapes below do not follow a default."""
    out = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    counts = [f"pictures.{k}={v}" for k, v in COUNTS.items()]
    run(compose_config([*QUICK, *counts, "objective.beta=0.05", "optimizer.lr=3e-3",
                        "trainer.max_epochs=20"], out))
    return out


def arrays_of(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / PICTURES / ARRAYS) as arrays:
        return dict(arrays)


def test_pictures_are_written_beside_rd_json(run_dir):
    assert (run_dir / "rd.json").is_file()
    for name in FILES:
        assert (run_dir / PICTURES / name).stat().st_size > 0, name
    height, width = imread(run_dir / PICTURES / "reconstructions.png").shape[:2]
    side = 8 * enlargement((1, 8, 8))  # each 8×8 image enlarged, a 1-pixel line between
    assert (height, width) == (4 * side + 3, 8 * side + 7)  # data + 3 rows, 8 images each


def test_arrays_have_the_configured_shapes_and_lie_in_the_data_range(run_dir):
    arrays = arrays_of(run_dir)
    image = (1, 8, 8)
    assert arrays["data"].shape == (8, *image)
    assert arrays["reconstructions"].shape == (3, 8, *image)
    assert arrays["samples"].shape == (16, *image)
    assert arrays["traversals"].shape == (5, 7, *image)
    assert arrays["values"].shape == (5, 7) and arrays["activity"].shape == (8,)
    for name in ("data", "reconstructions", "samples", "traversals"):
        assert arrays[name].min() >= 0 and arrays[name].max() <= 1, name
    _, x, _, _ = trained_run(run_dir)
    ranked = x[spread(len(x), RANKED)]  # every test image here: the digits' test set is small
    np.testing.assert_array_equal(arrays["data"], ranked[spread(len(ranked), 8)].float().numpy())


def test_pictured_images_spread_over_a_test_set_sorted_by_class():
    """Static binarised MNIST's test set runs from zeros to nines; its first images are all 0s.
    The images shown are spread over it: a labelled stand-in sorted by class shows 8 digits."""
    labels = torch.arange(10).repeat_interleave(100)  # 100 of each digit, in order
    dataset = TensorDataset(labels.view(-1, 1, 1, 1).float(), labels)
    x = spread_images(dataset, RANKED)
    shown = x[spread(len(x), 8)].flatten()
    assert len(set(shown.tolist())) == 8
    assert set(x.flatten().tolist()) == set(range(10))  # units ranked over every class


def test_traversals_take_the_most_active_units_across_the_marginal(run_dir):
    arrays = arrays_of(run_dir)
    units, activity, values = arrays["units"], arrays["activity"], arrays["values"]
    assert len(set(units.tolist())) == 5
    np.testing.assert_array_equal(units, np.argsort(-activity, kind="stable")[:5])
    assert (np.diff(values, axis=1) > 0).all()  # each unit's values rise along its row
    # the 2% and 98% quantiles of m(z_u) = N(0, 1): ±2.05, from 1000 draws
    np.testing.assert_allclose(values[:, [0, -1]], [[-2.05, 2.05]] * 5, atol=0.3)
    # the most active unit changes the picture along its row; the images differ step to step
    row = arrays["traversals"][0].reshape(7, -1)
    assert np.abs(row[-1] - row[0]).mean() > 0.05


def identified(pictures: np.ndarray, data: np.ndarray) -> int:
    """How many pictures (N, D) are nearest (squared error) to the image (N, D) of their row."""
    distance = ((pictures[:, None, :] - data[None, :, :]) ** 2).sum(-1)  # (N, N): picture i, x j
    return int((distance.argmin(1) == np.arange(len(data))).sum())


def test_reconstructions_are_closer_to_their_own_image_than_to_the_others(run_dir):
    """Each draw's row picks out its own images: at least 6 of 8 (chance: 1), the rest being
    digits of a class shown twice (the test images hold two 7s and two 5s) at D ≈ 10 nats."""
    arrays = arrays_of(run_dir)
    data = arrays["data"].reshape(8, -1)  # (N, D)
    for draw in arrays["reconstructions"].reshape(3, 8, -1):  # (N, D) each
        assert identified(draw, data) >= 6
    # a control that the measure can fail: samples from m(z) belong to no image in particular
    assert identified(arrays["samples"][:8].reshape(8, -1), data) <= 3


def test_pictures_are_reproduced_from_the_seed(run_dir):
    model, x, _, _ = trained_run(run_dir)
    model, x = model.float(), x.float()
    x = x[spread(len(x), RANKED)]
    again = make_pictures(model, x, seed=0, **COUNTS)
    saved = arrays_of(run_dir)
    for name, array in saved.items():
        np.testing.assert_allclose(again[name], array, atol=1e-5, err_msg=name)
    other = make_pictures(model, x, seed=1, **COUNTS)
    assert not np.allclose(other["samples"], saved["samples"])


def test_evaluate_pictures_draws_again_what_training_drew(run_dir, tmp_path):
    """``rdframe evaluate RUN --pictures`` rebuilds the run from rd.json and its checkpoint and
    draws the pictures ``rdframe train`` drew, for a run whose pictures were lost or drawn by
    an older version; rd.json is left alone."""
    copy = Path(shutil.copytree(run_dir, tmp_path / "run"))
    record = (copy / "rd.json").read_text()
    shutil.rmtree(copy / PICTURES)
    done = rdframe("evaluate", str(copy), "--pictures", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert str(copy / PICTURES) in done.stdout
    again, saved = arrays_of(copy), arrays_of(run_dir)
    assert again.keys() == saved.keys()
    for name, array in saved.items():
        np.testing.assert_allclose(again[name], array, atol=1e-5, err_msg=name)
    for name in FILES:
        assert (copy / PICTURES / name).stat().st_size > 0, name
    assert (copy / "rd.json").read_text() == record


@pytest.mark.parametrize("overrides", [["pictures.enabled=false"],
                                       ["objective=ib", "decoder=classifier"]],
                         ids=["disabled", "classifier"])
def test_no_pictures_when_disabled_or_without_images(tmp_path, overrides):
    cfg = compose_config([*QUICK, *overrides, "trainer.max_epochs=1",
                          "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"],
                         tmp_path)
    run(cfg)
    assert (tmp_path / "rd.json").is_file() and not (tmp_path / PICTURES).exists()


def tiny_model(shape: tuple[int, ...], decoder: str) -> RDModel:
    decoders = {
        "bernoulli": lambda: BernoulliMLPDecoder(3, shape, hidden=(16,)),
        "logistic": lambda: LogisticMLPDecoder(3, shape, hidden=(16,)),
        "pixelcnn": lambda: PixelCNNDecoder(3, shape, channels=4, num_layers=2),
    }
    return RDModel(GaussianMLPEncoder(shape, 3, hidden=(16,)), decoders[decoder](),
                   StandardNormal(3))


@pytest.mark.parametrize(("shape", "decoder"), [((1, 28, 28), "bernoulli"),
                                                ((1, 28, 28), "logistic"),
                                                ((1, 8, 8), "pixelcnn")])
def test_pictures_of_every_image_size_and_of_sampled_decoders(tmp_path, shape, decoder):
    """28×28 as well as 8×8; a logistic or PixelCNN decoder, which has no closed-form mean,
    is pictured by draws x ~ d(x|z), which are binary for the PixelCNN."""
    x = torch.rand(20, *shape).round()
    arrays = make_pictures(tiny_model(shape, decoder), x, images=4, reconstructions=2,
                           samples=3, traversal_units=2, traversal_steps=3)
    assert arrays["reconstructions"].shape == (2, 4, *shape)
    assert arrays["samples"].shape == (3, *shape)
    assert arrays["traversals"].shape == (2, 3, *shape)
    for name in ("reconstructions", "samples", "traversals"):
        assert 0 <= arrays[name].min() and arrays[name].max() <= 1, name
    if decoder == "pixelcnn":
        assert set(np.unique(arrays["samples"]).tolist()) <= {0.0, 1.0}
    paths = save_pictures(arrays, tmp_path)
    side = shape[-1] * enlargement(shape)
    assert imread(tmp_path / "samples.png").shape[:2] == (side, 3 * side + 2)
    assert all(p.stat().st_size > 0 for p in paths)


# --- The galleries, from hand-made arrays: no torch, no training -----------------------------

def hand_made_run(folder: Path, family: tuple[str, str, str], beta: float, rate: float,
                  level: float, data: np.ndarray, sigma: float | None = None) -> RunResult:
    """A run folder with an rd.json and pictures whose reconstructions are all ``level``; a
    target-rate run where ``sigma`` is given."""
    objective = "beta_vae" if sigma is None else "target_rate"
    result = RunResult(rate, 90.0 - rate, -90.0, 89.0, 10, beta, objective, *family, "mnist",
                       None, 0, 1, 1, 1.0, sigma=sigma)
    result.write(folder)
    reconstructions = np.full((2, *data.shape), level)
    save_pictures({"data": data, "reconstructions": reconstructions, "samples": data,
                   "traversals": np.zeros((0, 3, *data.shape[1:]))}, folder / PICTURES)
    return result


@pytest.fixture
def sweep(tmp_path: Path) -> list[RunResult]:
    data = np.random.default_rng(0).random((6, 1, 28, 28))
    runs = [(("conv", "conv", "standard_normal"), 1.0, 5.0, 0.1),
            (("iaf", "pixelcnn", "vamp"), 1.0, 1.0, 0.2),
            (("conv", "pixelcnn", "vamp"), 0.5, 9.0, 0.3),
            (("conv", "conv", "standard_normal"), 1.0, 6.0, 0.4)]  # a second −−− at β = 1
    for i, (family, beta, rate, level) in enumerate(runs):
        hand_made_run(tmp_path / str(i), family, beta, rate, level, data)
    return find_results([tmp_path])


def test_family_gallery_has_one_row_per_family_at_beta_one(sweep, tmp_path):
    data, rows = family_rows(sweep, beta=1.0)
    assert [label for label, _ in rows] == ["−−−", "++v"]  # the first −−− run; no β = 0.5
    assert [float(images.mean()) for _, images in rows] == pytest.approx([0.1, 0.2])
    assert data.shape == (6, 1, 28, 28)
    paths = family_gallery(sweep, tmp_path / "families")
    assert [p.name for p in paths] == ["families.png", "families.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_family_gallery_orders_the_paper_families_and_leaves_target_rates_out(tmp_path):
    """Rows in the order of the symbols (−−−, −−v, …, +++), whatever the runs' order on disk;
    a target-rate run at "β = 1" (a weight of another term) is no β = 1 run of its family."""
    data = np.random.default_rng(0).random((4, 1, 28, 28))
    runs = [(("iaf", "pixelcnn", "maf"), 0.1, None), (("conv", "conv", "standard_normal"), 0.2,
            10.0), (("conv", "conv", "vamp"), 0.3, None), (("conv", "pixelcnn", "maf"), 0.4,
            None), (("conv", "conv", "standard_normal"), 0.5, None)]
    for i, (family, level, sigma) in enumerate(runs):
        hand_made_run(tmp_path / str(i), family, 1.0, 5.0, level, data, sigma)
    _, rows = family_rows(find_results([tmp_path]))
    assert [label for label, _ in rows] == ["−−−", "−−v", "−++", "+++"]
    assert [float(images.mean()) for _, images in rows] == pytest.approx([0.5, 0.3, 0.4, 0.1])


def test_group_gallery_labels_each_run_with_family_beta_rate_and_distortion(sweep, tmp_path):
    _, rows = group_rows([sweep[2], sweep[1]])  # in the order given
    assert [label for label, _ in rows] == ["−+v β=0.5 R=9.0 D=81.0", "++v β=1 R=1.0 D=89.0"]
    assert [float(images.mean()) for _, images in rows] == pytest.approx([0.3, 0.2])
    paths = group_gallery(sweep[1:3], tmp_path / "group", title="same ELBO, other rates")
    assert all(p.stat().st_size > 0 for p in paths)


def test_galleries_say_which_run_has_no_pictures(sweep, tmp_path):
    (Path(sweep[0].path).parent / PICTURES / ARRAYS).unlink()
    with pytest.raises(RDFrameError, match=f"no pictures/{ARRAYS} beside .*0/rd.json"):
        group_gallery(sweep[:2], tmp_path / "group")
    with pytest.raises(RDFrameError, match="no run at beta=2"):
        family_gallery(sweep, tmp_path / "families", beta=2.0)


def test_a_count_of_zero_leaves_that_kind_out_and_a_negative_one_is_an_error(tmp_path):
    model, x = tiny_model((1, 8, 8), "bernoulli"), torch.rand(20, 1, 8, 8).round()
    arrays = make_pictures(model, x, samples=0, traversal_units=0)
    assert [p.name for p in save_pictures(arrays, tmp_path)] == [ARRAYS, "reconstructions.png"]
    with pytest.raises(ConfigError, match="pictures.images must be >= 1"):
        make_pictures(model, x, images=0)
    with pytest.raises(ConfigError, match=r"got images=8, .* = \(3, -1, 5, 7\)"):
        make_pictures(model, x, samples=-1)
