"""What the benchmark scripts share: paired ratios, their JSON records, and pythae's VAE on
rdframe's own networks."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def median_ratio(times: Sequence[float], references: Sequence[float]) -> float:
    """The median of ``times[i] / references[i]``: ratios taken within each repeat, where both
    ran under the same load.

    >>> median_ratio([2.0, 3.0, 10.0], [1.0, 1.0, 1.0])
    3.0
    """
    return statistics.median(t / r for t, r in zip(times, references, strict=True))


def rotation(names: Sequence[str], repeat: int) -> list[str]:
    """The order of ``names`` in repeat number ``repeat``: rotated by one each repeat, so that
    each goes first as often (with two names, they alternate).

    >>> [rotation("abc", r) for r in range(3)]
    [['a', 'b', 'c'], ['b', 'c', 'a'], ['c', 'a', 'b']]
    """
    names = list(names)
    return names[repeat % len(names):] + names[:repeat % len(names)]


def rotated(repeats: int, variants: dict[str, Callable[[], object]],
            run: Callable[[str], float]) -> dict[str, list[float]]:
    """Seconds of ``run(name)`` under each variant's context (``variants[name]()``), the
    order rotated from repeat to repeat so that each goes first as often."""
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(repeats):
        for name in rotation(variants, repeat):
            with variants[name]():
                seconds[name].append(run(name))
    return seconds


def write_record(path: Path | str, record: dict) -> Path:
    """``record`` as indented JSON at ``path`` (its folder made), announced on the console."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def pythae_vae(model: Any) -> Any | None:
    """pythae 0.1.2's ``VAE`` on the networks of ``model``, an rdframe ``RDModel`` with an MLP
    encoder and a Bernoulli MLP decoder: the same modules, so the same weights, and the same
    encoder scale, softplus(raw + shift) + min_scale, handed to pythae as a log-variance.
    Under a ``VampPrior`` marginal it is pythae's ``VAMP`` with as many components, its
    pseudo-inputs hardtanh(W·e_k + b) ∈ [0, 1] set to rdframe's (W = the rows w_k, b = 0).
    None where pythae does not import (it is not a dependency of rdframe)."""
    try:
        import torch
        from pythae.models import VAE, VAMP, VAEConfig, VAMPConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
    except Exception:  # noqa: BLE001 — any import failure: no pythae method
        return None
    encoder, decoder = model.encoder, model.decoder

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = encoder.net

        def forward(self, x: torch.Tensor) -> ModelOutput:
            loc, raw = self.net(x.flatten(1)).chunk(2, dim=-1)
            scale = torch.nn.functional.softplus(raw + encoder.scale_shift) + encoder.min_scale
            return ModelOutput(embedding=loc, log_covariance=2 * scale.log())

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = decoder.net

        def forward(self, z: torch.Tensor) -> ModelOutput:
            logits = self.net(z).view(-1, *decoder.output_shape)
            return ModelOutput(reconstruction=torch.sigmoid(logits))

    shape, latent = tuple(decoder.output_shape), encoder.latent_dim
    pseudo_inputs = getattr(model.marginal, "pseudo_inputs", None)
    if pseudo_inputs is None:
        config = VAEConfig(input_dim=shape, latent_dim=latent, reconstruction_loss="bce")
        return VAE(config, encoder=Encoder(), decoder=Decoder())
    config = VAMPConfig(input_dim=shape, latent_dim=latent, reconstruction_loss="bce",
                        number_components=len(pseudo_inputs))
    vamp = VAMP(config, encoder=Encoder(), decoder=Decoder())
    with torch.no_grad():
        vamp.pseudo_inputs[0].weight.copy_(pseudo_inputs.flatten(1).T)
        vamp.pseudo_inputs[0].bias.zero_()
    return vamp


def synchronize(device: Any) -> None:
    """Wait for the device's queued work (a CUDA device runs asynchronously), so that a clock
    read after it counts the work."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_images(n: int, mean: float = 0.13) -> Any:
    """n binary 28×28 images (n, 1, 28, 28) of MNIST's mean pixel value, seeded: what a
    benchmark times on a machine without the data sets (a step costs the same whatever the
    pixels)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, 28, 28, generator=generator) < mean).float()
