"""Pictures of a model: reconstructions, samples from its marginal, latent traversals.

::

    test images x ──► e(z|x) ──► z_1 … z_R ──► d(x|z) ──► R rows of reconstructions
    m(z) ──► z_1 … z_M ──► d(x|z) ──► M samples
    E[z|x_0] with unit u set to quantiles of m(z_u) ──► d(x|z) ──► a row per traversed unit

An image is the decoder's mean (a Bernoulli's pixel probabilities, a Gaussian's mean) where
the family defines one, else one draw x ~ d(x|z) (a PixelCNN's, pixel by pixel: slow). Every
kind of picture draws from its own stream seeded by the run's seed (:mod:`rdframe.seeding`),
so a run's pictures are the same each time they are made. The arrays and their layout on disk
are described in :mod:`rdframe.evaluation.gallery`, which reads them without torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution
from torch.utils.data import Dataset

from rdframe.errors import ConfigError
from rdframe.estimators import active_units, posterior_means
from rdframe.evaluation.gallery import PICTURES, save_pictures
from rdframe.model import RDModel
from rdframe.seeding import seed_batch

RECONSTRUCTIONS, SAMPLES, TRAVERSALS = range(3)  # one random stream per kind of picture
RANKED = 1000  # test examples over which units are ranked by Var_x E[z|x]
QUANTILES = (0.02, 0.98)  # a traversal's range: these quantiles of m(z_u)
MARGINAL_DRAWS = 1000  # draws of m(z) from which the quantiles are taken
Arrays = dict[str, np.ndarray]


def has_images(model: RDModel) -> bool:
    """Whether the decoder scores x (a classifier decoder, for the bottleneck, scores y)."""
    return getattr(model.decoder, "target", "x") == "x"


def has_mean(likelihood: Distribution) -> bool:
    """Whether the decoder's distribution has a closed-form mean (cheap pictures)."""
    try:
        likelihood.mean  # noqa: B018
    except NotImplementedError:
        return False
    return True


def decoder_image(likelihood: Distribution) -> Tensor:
    """The picture of d(x|z): its mean where defined, else one draw, shape (..., *x shape)."""
    try:
        return likelihood.mean
    except NotImplementedError:
        return likelihood.sample()


def _device(model: RDModel) -> torch.device:
    return next(model.parameters()).device


@contextmanager
def seeded(model: RDModel, seed: int, stream: int) -> Iterator[None]:
    """Draws inside the block from (``seed``, ``stream``); the global streams, and the
    model's train/eval mode, are restored afterwards."""
    device, training = _device(model), model.training
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        seed_batch(seed, "predict", stream)
        model.eval()
        try:
            yield
        finally:
            model.train(training)


def _numpy(x: Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy()


def reconstruct(model: RDModel, x: Tensor, draws: int = 1, seed: int = 0) -> np.ndarray:
    """d(x|z) at ``draws`` codes z ~ e(z|x) of each example: shape (draws, N, *x shape)."""
    with seeded(model, seed, RECONSTRUCTIONS):
        z = model.encoder(x).sample(torch.Size([draws]))  # (R, N, Z)
        return _numpy(decoder_image(model.decoder(z)))


def generate(model: RDModel, n: int, seed: int = 0) -> np.ndarray:
    """d(x|z) at n codes z ~ m(z), the model's own marginal: shape (n, *x shape)."""
    with seeded(model, seed, SAMPLES):
        z = model.marginal().sample(torch.Size([n]))  # (n, Z)
        return _numpy(decoder_image(model.decoder(z)))


def traversal_codes(base: Tensor, units: Tensor, values: Tensor) -> Tensor:
    """``base`` (Z,) repeated with unit ``units[i]`` set to ``values[i, j]``: (U, S, Z).

    >>> traversal_codes(torch.zeros(3), torch.tensor([2]), torch.tensor([[-1.0, 1.0]]))
    tensor([[[ 0.,  0., -1.],
             [ 0.,  0.,  1.]]])
    """
    codes = base.expand(*values.shape, base.shape[-1]).clone()  # (U, S, Z)
    codes[torch.arange(len(units)), :, units] = values
    return codes


def traverse(
    model: RDModel, x: Tensor, units: int = 5, steps: int = 7, seed: int = 0
) -> Arrays:
    """Vary each of the ``units`` most active units (by Var_x E[z_u|x] over ``x``) across the
    2%–98% quantiles of m(z_u), the others held at E[z|x_0] of the first example: images
    (U, S, *x shape), the units (U,), their values (U, S) and every unit's activity (Z,)."""
    with seeded(model, seed, TRAVERSALS):
        activity = active_units(model, x[:RANKED])[1]  # (Z,)
        chosen = activity.argsort(descending=True)[: min(units, len(activity))]  # (U,)
        draws = model.marginal().sample(torch.Size([MARGINAL_DRAWS]))  # (K, Z)
        levels = torch.linspace(*QUANTILES, steps, dtype=draws.dtype, device=draws.device)
        values = draws.quantile(levels, dim=0).T[chosen]  # (U, S)
        base = posterior_means(model.encoder(x[:1]))[0][0]  # (Z,)
        images = decoder_image(model.decoder(traversal_codes(base, chosen, values)))
        return {"traversals": _numpy(images), "units": chosen.cpu().numpy(),
                "values": _numpy(values), "activity": _numpy(activity)}


def make_pictures(
    model: RDModel,
    x: Tensor,
    images: int = 8,
    reconstructions: int = 3,
    samples: int = 16,
    traversal_units: int = 5,
    traversal_steps: int = 7,
    seed: int = 0,
) -> Arrays:
    """Every picture of ``model``: reconstructions of ``images`` examples spread evenly over
    ``x`` (:func:`spread`), samples from m(z), traversals ranked over ``x``; the arrays of
    :mod:`rdframe.evaluation.gallery`. ``x`` is moved to the model's device and dtype.

    >>> from rdframe.decoders import BernoulliMLPDecoder
    >>> from rdframe.encoders import GaussianMLPEncoder
    >>> from rdframe.marginals import StandardNormal
    >>> model = RDModel(GaussianMLPEncoder((1, 8, 8), 4), BernoulliMLPDecoder(4, (1, 8, 8)),
    ...                 StandardNormal(4))
    >>> arrays = make_pictures(model, torch.rand(20, 1, 8, 8), traversal_units=2)
    >>> {k: v.shape for k, v in arrays.items() if k != "activity"}  # doctest: +NORMALIZE_WHITESPACE
    {'data': (8, 1, 8, 8), 'reconstructions': (3, 8, 1, 8, 8), 'samples': (16, 1, 8, 8),
     'traversals': (2, 7, 1, 8, 8), 'units': (2,), 'values': (2, 7)}
    """
    counts = (reconstructions, samples, traversal_units, traversal_steps)
    if images < 1 or min(counts) < 0:
        raise ConfigError(f"pictures.images must be >= 1 and the other counts >= 0 (0: none of "
                          f"that kind), got images={images}, reconstructions, samples, "
                          f"traversal_units, traversal_steps = {counts}")
    parameter = next(model.parameters())
    x = x.to(parameter)
    shown = x[spread(len(x), images)]
    arrays = {"data": _numpy(shown), "reconstructions": reconstruct(model, shown,
                                                                    reconstructions, seed),
              "samples": generate(model, samples, seed)}
    return arrays | traverse(model, x, traversal_units, traversal_steps, seed)


def write_pictures(model: RDModel, dataset: Dataset, run_dir: Path, seed: int = 0,
                   **counts: int) -> Arrays:
    """A run's pictures as ``rdframe train`` ends: :func:`make_pictures` (``counts``: images,
    reconstructions, …) over RANKED examples spread over ``dataset``, its test set, saved in
    ``run_dir``/pictures (pictures.npz, reconstructions.png, samples.png, traversals.png) and
    returned."""
    arrays = make_pictures(model, spread_images(dataset, RANKED), seed=seed, **counts)
    save_pictures(arrays, Path(run_dir) / PICTURES)
    return arrays


def picture_counts(options: Mapping[str, object] | None) -> dict[str, int]:
    """The counts of a config's ``pictures`` group (images, reconstructions, …) for
    :func:`write_pictures`, its ``enabled`` switch left out.

    >>> picture_counts({"enabled": True, "images": 8, "samples": 16})
    {'images': 8, 'samples': 16}
    """
    return {k: v for k, v in (options or {}).items() if k != "enabled"}


def spread(length: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(length)`` from 0 (all of them if n >= length).
    Some test sets are sorted by class (static binarised MNIST's opens with a thousand
    zeros): their first images would show one digit.

    >>> spread(10000, 4), spread(3, 8)
    ([0, 2500, 5000, 7500], [0, 1, 2])
    """
    n = min(n, length)
    return [i * length // n for i in range(n)]


def spread_images(dataset: Dataset, n: int) -> Tensor:
    """The x of ``n`` examples spread evenly over a data set of (x, y) pairs (:func:`spread`),
    stacked: (n, *shape).

    >>> from torch.utils.data import TensorDataset
    >>> spread_images(TensorDataset(torch.arange(5.0).view(5, 1), torch.zeros(5)), 2)
    tensor([[0.],
            [2.]])
    """
    return torch.stack([dataset[i][0] for i in spread(len(dataset), n)])
