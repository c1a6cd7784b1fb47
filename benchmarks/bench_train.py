"""Training throughput of rdframe as users run it, against a plain PyTorch loop of the same
modules (and pythae 0.1.2's VAE where it imports), as paired ratios.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_train.py [--steps 60 --repeats 5]

One model for every method: the MLP VAE 784-512-512-64 with a Bernoulli decoder on static
binarised MNIST, batch 100, fp32, Adam 1e-3, on batches already in memory; the ``_vamp``
methods put a VampPrior of K = 50 pseudo-inputs in place of N(0, I). Methods:

- ``plain``: the encoder's and decoder's ``nn.Sequential`` networks with the loss written out
  by hand (reparameterised draw, Monte-Carlo rate, Bernoulli log-likelihood), ``Adam.step``;
- ``rdframe_model``: ``RDModel.terms`` and the objective, Adam as ``RDSystem`` builds it (the
  fused kernel), torch.distributions' argument checks off as in ``RDSystem``'s training step:
  the library without Lightning, so that its ratio to ``rdframe_lightning`` is
  what Lightning costs;
- ``rdframe_lightning``: ``RDSystem`` under a Lightning ``Trainer``, logging rate, distortion,
  ELBO, loss and β as ``rdframe train`` does (to a CSV logger; no validation, checkpoints or
  progress bar: see ``bench_train_cli`` in ``run_all.py`` for the command end to end);
- ``lightning_unchecked``: the same without the finite-gradient check of
  ``on_before_optimizer_step`` (what the check costs; not how rdframe runs);
- ``lightning_bare``: the loss alone under the same Trainer, without the per-batch seed,
  the checks and the logging: what Lightning's loop costs by itself;
- ``model_compiled``: ``rdframe_model`` with its loss (forward, and backward through
  AOTAutograd) under ``torch.compile``; its first call, the compilation, falls in the warm-up;
- ``pythae``: pythae's VAE of the same layers through its own training step (optional);
- ``products``, ``products_adam``: a step's matrix products and nothing else (each linear
  layer's forward product, then its weight gradient's and, past the first layer, its input
  gradient's, on the step's shapes), and the same followed by the fused Adam step: the
  floor under any implementation of this step in fp32, to set the others against;
- ``rdframe_model_vamp``, ``rdframe_lightning_vamp``, ``pythae_vamp``: the library loop,
  ``RDSystem`` under the Trainer and pythae's ``VAMP``, with the VampPrior.

Each repeat runs every method once, in an order rotated from repeat to repeat, and times
``--steps`` steps after 5 warm-up steps; the ratio of a method to ``plain`` is taken within each
repeat (the machine's load is shared by both) and the median over repeats is reported. The
record's ``comparisons`` are paired ratios between methods: pythae's time over rdframe's (its
throughput as a multiple of pythae's), and Lightning's cost, ``RDSystem`` over the library loop.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import common
import pytorch_lightning as pl
import torch
from common import median_ratio, pythae_vae, rotation, synchronize, write_record
from torch import Tensor, nn
from torch.utils.data import DataLoader

from rdframe.data.tensors import Tensors, collate, gathering
from rdframe.decoders import BernoulliMLPDecoder
from rdframe.encoders import GaussianMLPEncoder
from rdframe.marginals import StandardNormal, VampPrior
from rdframe.model import RDModel
from rdframe.objectives import BetaVAE
from rdframe.system import RDSystem, argument_validation, fused_options

RESULTS = Path(__file__).resolve().parent / "results"
WARMUP, BATCH, LATENT, HIDDEN, COMPONENTS = 5, 100, 64, (512, 512), 50
# (slower, faster) method pairs whose paired ratio the record reports
COMPARISONS = {
    "throughput vs pythae, VAE": ("pythae", "rdframe_lightning"),
    "throughput vs pythae, VAMP": ("pythae_vamp", "rdframe_lightning_vamp"),
    "Lightning's cost, VAE": ("rdframe_lightning", "rdframe_model"),
    "Lightning's cost, VAMP": ("rdframe_lightning_vamp", "rdframe_model_vamp"),
    "the finite-gradient check, VAE": ("rdframe_lightning", "lightning_unchecked"),
    "Lightning's loop alone, VAE": ("lightning_bare", "rdframe_model"),
    "the products alone, as a multiple of pythae's throughput": ("pythae", "products"),
    "the products and Adam, as a multiple of pythae's throughput": ("pythae", "products_adam"),
}


def load_batches(steps: int, random_images: bool = False) -> list[Tensor]:
    """``steps`` + WARMUP batches of binarised MNIST training images, in memory; with
    ``random_images`` (a machine without the data set) binary arrays of MNIST's mean, 0.13,
    which cost a step the same."""
    n = (steps + WARMUP) * BATCH
    if random_images:
        return list(common.random_images(n).split(BATCH))
    from rdframe.data.binarized_mnist import BinarizedMNISTDataModule

    data = BinarizedMNISTDataModule()
    data.setup("fit")
    return list(data.train_set.tensors[0][:n].float().split(BATCH))


def model(vamp: bool = False) -> RDModel:
    encoder = GaussianMLPEncoder((1, 28, 28), LATENT, HIDDEN)
    decoder = BernoulliMLPDecoder(LATENT, (1, 28, 28), HIDDEN)
    marginal = (VampPrior(encoder, (1, 28, 28), COMPONENTS, init_loc=0.13, bounds=(0.0, 1.0))
                if vamp else StandardNormal(LATENT))
    return RDModel(encoder, decoder, marginal)


def timed_steps(step: Callable[[Tensor], None], batches: list[Tensor]) -> float:
    """Seconds for the batches after the warm-up ones."""
    for x in batches[:WARMUP]:
        step(x)
    synchronize(batches[0].device)
    start = time.perf_counter()
    for x in batches[WARMUP:]:
        step(x)
    synchronize(batches[0].device)
    return time.perf_counter() - start


def plain(batches: list[Tensor]) -> float:
    m = model().to(batches[0].device)
    encoder, decoder = m.encoder.net, m.decoder.net
    optimizer = torch.optim.Adam(m.parameters(), lr=1e-3)
    log_2pi = torch.log(torch.tensor(2 * torch.pi, device=batches[0].device))

    def step(x: Tensor) -> None:
        flat = x.flatten(1)
        loc, raw = encoder(flat).chunk(2, dim=-1)
        scale = nn.functional.softplus(raw) + 1e-4
        eps = torch.randn_like(loc)
        z = loc + scale * eps
        log_e = (-0.5 * eps**2 - scale.log() - 0.5 * log_2pi).sum(-1)
        log_m = (-0.5 * z**2 - 0.5 * log_2pi).sum(-1)
        logits = decoder(z)
        distortion = nn.functional.binary_cross_entropy_with_logits(
            logits, flat, reduction="none").sum(-1)
        loss = (distortion + log_e - log_m).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return timed_steps(step, batches)


def rdframe_model(batches: list[Tensor], compiled: bool = False, vamp: bool = False) -> float:
    m, objective = model(vamp).to(batches[0].device), BetaVAE(beta=1.0)
    factory = partial(torch.optim.Adam, lr=1e-3)  # as RDSystem builds it: fused where it can

    def loss_of(x: Tensor) -> Tensor:
        with argument_validation(False):  # as RDSystem.training_step runs it
            return objective.loss(m.terms(x), 0).mean()

    optimizer = factory(m.parameters(), **fused_options(factory, m.parameters()))
    loss_of = torch.compile(loss_of) if compiled else loss_of

    def step(x: Tensor) -> None:
        loss = loss_of(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return timed_steps(step, batches)


def products(batches: list[Tensor], adam: bool = False) -> float:
    """The step's matrix products alone, on inputs and output gradients of the step's shapes
    drawn once; with ``adam``, then fused Adam on gradients already in place."""
    m = model().to(batches[0].device)
    layers = [layer for net in (m.encoder.net, m.decoder.net) for layer in net
              if isinstance(layer, nn.Linear)]
    inputs = [torch.randn(BATCH, layer.in_features, device=layer.weight.device)
              for layer in layers]
    grads = [torch.randn(BATCH, layer.out_features, device=layer.weight.device)
             for layer in layers]
    for parameter in m.parameters():
        parameter.grad = torch.zeros_like(parameter)
    factory = partial(torch.optim.Adam, lr=1e-3)
    optimizer = factory(m.parameters(), **fused_options(factory, m.parameters()))

    @torch.no_grad()
    def step(x: Tensor) -> None:
        for layer, a in zip(layers, inputs):
            torch.addmm(layer.bias, a, layer.weight.t())
        for i, (layer, a, g) in enumerate(zip(layers, inputs, grads)):
            torch.mm(g.t(), a)
            if i > 0:  # the first layer's input is the data: no gradient
                torch.mm(g, layer.weight)
        if adam:
            optimizer.step()

    return timed_steps(step, batches)


class StepTimer(pl.Callback):
    """Seconds from the first batch after the warm-up to the end of training."""

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule,
                             *args: object) -> None:
        if trainer.global_step == WARMUP:
            synchronize(module.device)
            self.start = time.perf_counter()

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        synchronize(module.device)
        self.seconds = time.perf_counter() - self.start


class UncheckedSystem(RDSystem):
    """RDSystem without its finite-gradient check, to measure what the check costs."""

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        pass


class BareSystem(UncheckedSystem):
    """RDSystem's loss and nothing else under the Trainer: no per-batch seed, no checks of the
    loss, rate, distortion or gradients, no logging; what Lightning's loop costs by itself."""

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        with argument_validation(False):
            return self._loss(batch)[1]

    def on_train_batch_start(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        pass


def rdframe_lightning(
    batches: list[Tensor], system_class: type[RDSystem] = RDSystem, vamp: bool = False
) -> float:
    system = system_class(model(vamp), BetaVAE(beta=1.0))
    x = torch.cat(batches)
    # served as rdframe's data modules serve a set in memory: a batch gathered whole
    loader = DataLoader(gathering(Tensors(x, torch.zeros(len(x), device=x.device))),
                        batch_size=BATCH, collate_fn=collate)
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as folder:
        trainer = pl.Trainer(accelerator="gpu" if x.is_cuda else "cpu", devices=1,
                             max_steps=len(batches),
                             logger=pl.loggers.CSVLogger(folder), callbacks=[timer],
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, log_every_n_steps=10,
                             limit_val_batches=0, default_root_dir=folder)
        trainer.fit(system, loader)
    return timer.seconds


def pythae_step(vamp: bool = False) -> Callable[[list[Tensor]], float] | None:
    """pythae's VAE (or VAMP) of the same layers (:func:`common.pythae_vae` on a fresh model),
    trained through its own forward and Adam, if pythae imports (it is not a dependency of
    rdframe)."""
    if pythae_vae(model()) is None:
        return None

    def run(batches: list[Tensor]) -> float:
        vae = pythae_vae(model(vamp)).to(batches[0].device)
        optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)

        def step(x: Tensor) -> None:
            loss = vae({"data": x}).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return timed_steps(step, batches)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    parser.add_argument("--random-images", action="store_true",
                        help="time on random binary images, without the data set")
    parser.add_argument("--out", default=str(RESULTS / "train_cpu.json"))
    parser.add_argument("--methods", nargs="+", metavar="NAME",
                        help="run only these methods (the plain loop always runs, for the "
                             "ratios)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = [x.to(args.device) for x in load_batches(args.steps, args.random_images)]
    methods: dict[str, Callable[[list[Tensor]], float]] = {
        "plain": plain, "rdframe_model": rdframe_model, "rdframe_lightning": rdframe_lightning,
        "lightning_unchecked": partial(rdframe_lightning, system_class=UncheckedSystem),
        "lightning_bare": partial(rdframe_lightning, system_class=BareSystem),
        "model_compiled": partial(rdframe_model, compiled=True),
        "products": products, "products_adam": partial(products, adam=True)}
    if (run := pythae_step()) is not None:
        methods["pythae"] = run
    methods |= {"rdframe_model_vamp": partial(rdframe_model, vamp=True),
                "rdframe_lightning_vamp": partial(rdframe_lightning, vamp=True)}
    if (run := pythae_step(vamp=True)) is not None:
        methods["pythae_vamp"] = run
    if args.methods:
        unknown = set(args.methods) - set(methods)
        if unknown:
            parser.error(f"unknown methods {sorted(unknown)}; choose from {list(methods)}")
        methods = {name: run for name, run in methods.items()
                   if name in args.methods or name == "plain"}
    seconds = {name: [] for name in methods}
    for repeat in range(args.repeats):
        for name in rotation(methods, repeat):
            seconds[name].append(methods[name](batches))
    images = args.steps * BATCH
    record = {"steps": args.steps, "batch": BATCH, "repeats": args.repeats,
              "threads": args.threads, "device": args.device,
              "images": "random" if args.random_images else "binarized_mnist",
              "torch": torch.__version__, "components": COMPONENTS,
              "methods": {}, "comparisons": {}}
    print(f"{'method':>18} {'ms/step':>8} {'images/s':>9} {'vs plain':>9}")
    for name in methods:
        ratio, best = median_ratio(seconds[name], seconds["plain"]), min(seconds[name])
        record["methods"][name] = {"seconds": seconds[name], "images_per_s": images / best,
                                   "ratio_to_plain": ratio}
        print(f"{name:>18} {1000 * best / args.steps:8.2f} {images / best:9.0f} {ratio:8.2f}×")
    for label, (slower, faster) in COMPARISONS.items():
        if slower in seconds and faster in seconds:
            ratio = median_ratio(seconds[slower], seconds[faster])
            record["comparisons"][label] = ratio
            print(f"{label}: {ratio:.2f}×")
    write_record(args.out, record)


if __name__ == "__main__":
    main()
