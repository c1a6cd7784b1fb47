"""The GPU half of the benchmarks in one short run: the device's peak, what moves a training
step (bf16, TF32, channels-last, ``torch.compile``, CUDA graphs), and every family of the
paper's grid, costed in GPU-hours at the ``broken_elbo`` budget.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_gpu.py            # a CUDA device
    python benchmarks/bench_gpu.py --device cpu --steps 2 --repeats 1 --no-compile   # smoke

1. **Peak**: a dense GEMM (8192², 2048² on a CPU), best of 5, in fp32, TF32 (CUDA) and bf16:
   the reference of every "fraction of the peak" below.
2. **Levers**: two models, each under every setting, trained on one batch of 100 binary
   28×28 images. Images/s, and the paired ratio of each setting's time to eager fp32
   (median over ``--repeats``, the settings in an order rotated from repeat to repeat):
   - ``mlp``, bench_train's VAE 784-512-512-64: fp32, tf32, bf16 (autocast), compile,
     graphs (``torch.compile(mode="reduce-overhead")``: CUDA graphs for a small model whose
     step is launch-bound at batch 100);
   - ``conv``, the paper's "−−−" (gated-conv encoder and decoder, N(0, I), latent 64): fp32,
     tf32, bf16, channels_last, channels_last + bf16, compile.
3. **Families**: the 12 of ``experiment=broken_elbo`` (encoder conv|iaf × decoder
   conv|pixelcnn × marginal standard_normal|vamp|maf), each trained in fp32 and bf16: a
   training step, a validation batch, and the IWAE bound's rows per second in passes of the
   size rdframe's memory budget gives (:mod:`rdframe.memory`). From these, one run at the full
   budget (100 epochs × 500 steps, 100 validation batches an epoch, the test IWAE at k = 1000
   on 10,000 images) and the grid (× 7 β) in GPU-hours. FLOPs per step are counted by
   ``torch.utils.flop_counter`` (forward and backward, as dispatched), for the fraction of the
   peak.

Timing only: the images are random binary arrays (p = 0.13, MNIST's mean), since a step's cost
does not depend on the pixel values, so no data set is read. The weights train on as they are
timed. Writes ``results/gpu-DEVICE.json`` and prints Markdown tables. Nothing asserts.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from bench_budget import SYMBOLS
from common import random_images, rotation, synchronize, write_record
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from rdframe.estimators import iwae_log_likelihood
from rdframe.memory import iwae_rows
from rdframe.system import RDSystem, argument_validation

RESULTS = Path(__file__).resolve().parent / "results"
BATCH, SHAPE, MEAN = 100, (1, 28, 28), 0.13
# experiment=broken_elbo at budget=full: 50,000 images / 100 = 500 steps an epoch, 100 epochs,
# validation on 10,000 images (100 batches) each epoch, the test IWAE at k = 1000, 7 β
EPOCHS, STEPS_PER_EPOCH, VAL_BATCHES, TEST_EXAMPLES, TEST_SAMPLES, BETAS = (
    100, 500, 100, 10_000, 1000, 7)
PAPER = ["experiment=broken_elbo"]
MLP = ["encoder=mlp", "decoder=mlp", "marginal=standard_normal", "latent_dim=64",
       "encoder.hidden=[512,512]", "decoder.hidden=[512,512]"]


@dataclass(frozen=True)
class Setting:
    """How a training step runs: its precision, memory format and compilation."""

    name: str
    bf16: bool = False  # autocast to bfloat16 (the terms are summed in float32: RDModel)
    tf32: bool = False  # float32 matrix products on TF32 tensor cores
    channels_last: bool = False
    compile: bool = False
    graphs: bool = False  # torch.compile(mode="reduce-overhead"): CUDA graphs


LEVERS = {
    "mlp": [Setting("fp32"), Setting("tf32", tf32=True), Setting("bf16", bf16=True),
            Setting("compile", compile=True), Setting("graphs", compile=True, graphs=True)],
    "conv": [Setting("fp32"), Setting("tf32", tf32=True), Setting("bf16", bf16=True),
             Setting("channels_last", channels_last=True),
             Setting("channels_last+bf16", channels_last=True, bf16=True),
             Setting("compile", compile=True)],
}


def build(overrides: list[str]) -> RDSystem:
    """RDSystem of the config with ``overrides``, as ``rdframe train`` builds it, for data
    of SHAPE with values in [0, 1] and mean MEAN (no data set is read)."""
    from hydra import compose, initialize_config_module
    from omegaconf import open_dict

    from rdframe.build import build_system

    with initialize_config_module("rdframe.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "output_dir=."])
    with open_dict(cfg):
        cfg.data_shape, cfg.num_classes = list(SHAPE), 0
        cfg.data_range, cfg.data_mean = [0.0, 1.0], MEAN
    return build_system(cfg)


def images(device: torch.device, n: int = BATCH) -> Tensor:
    return random_images(n, MEAN).to(device)


def precision(setting: Setting, device: torch.device):  # noqa: ANN201 — a context manager
    if setting.bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def trainer_step(system: RDSystem, x: Tensor, setting: Setting) -> Callable[[], Tensor]:
    """One optimiser step of ``system`` on ``x`` as ``setting`` says: RDSystem's own optimiser
    (fused Adam) and training-step loss, without Lightning's loop (bench_train measures that)."""
    device = x.device
    system.to(device)
    if setting.channels_last:
        system.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = system.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer

    def loss_of(x: Tensor) -> Tensor:
        with precision(setting, device):
            return system.objective.loss(system.model.terms(x), 0).mean()

    if setting.compile:
        loss_of = torch.compile(loss_of, mode="reduce-overhead" if setting.graphs else None)

    def step() -> Tensor:
        with argument_validation(False):  # as RDSystem.training_step runs it
            loss = loss_of(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def seconds_per_call(fn: Callable[[], object], calls: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / calls


def step_flops(step: Callable[[], Tensor]) -> int:
    """FLOPs of one call of ``step`` (forward, backward and optimiser), as dispatched."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def matmul_peak(device: torch.device, dtype: torch.dtype, tf32: bool = False) -> float:
    """GFLOP/s of a square GEMM (8192² on a GPU, 2048² on a CPU), best of 5."""
    size = 8192 if device.type == "cuda" else 2048
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    set_tf32(tf32)
    try:
        a @ b
        best = min(seconds_per_call(lambda: a @ b, 3, device) for _ in range(5))
    finally:
        set_tf32(False)
    return 2 * size**3 / best / 1e9


def peaks(device: torch.device) -> dict[str, float]:
    found = {"fp32": matmul_peak(device, torch.float32),
             "bf16": matmul_peak(device, torch.bfloat16)}
    if device.type == "cuda":
        found["tf32"] = matmul_peak(device, torch.float32, tf32=True)
    return found


def peak_of(setting: Setting, found: dict[str, float]) -> float:
    """The GEMM peak a step under ``setting`` could reach at best."""
    if setting.bf16:
        return found["bf16"]
    return found.get("tf32", found["fp32"]) if setting.tf32 else found["fp32"]


def levers(model: str, settings: list[Setting], args: argparse.Namespace,
           found: dict[str, float]) -> list[dict]:
    """Every setting of ``model`` ("mlp" or "conv"), timed in rotated order over repeats."""
    device, overrides = torch.device(args.device), MLP if model == "mlp" else PAPER
    steps, rows, chosen = {}, {}, {s.name: s for s in settings}
    for setting in settings:
        set_tf32(setting.tf32)
        step = trainer_step(build(overrides), images(device), setting)
        start = time.perf_counter()
        seconds_per_call(step, args.warmup, device)  # compiles, records graphs, warms caches
        rows[setting.name] = {"model": model, **asdict(setting),
                              "warmup_s": time.perf_counter() - start, "seconds": []}
        steps[setting.name] = step
    set_tf32(False)
    for repeat in range(args.repeats):
        for name in rotation(steps, repeat):
            set_tf32(rows[name]["tf32"])
            rows[name]["seconds"].append(seconds_per_call(steps[name], args.steps, device))
    set_tf32(False)
    flops = step_flops(trainer_step(build(overrides), images(device), Setting("fp32")))
    fp32 = rows["fp32"]["seconds"]
    for name, row in rows.items():
        best = min(row["seconds"])
        row |= {"images_per_s": BATCH / best,
                "ratio_to_fp32": statistics.median(t / r for t, r in zip(row["seconds"], fp32)),
                "flops_per_step": flops,
                "fraction_of_peak": flops / best / 1e9 / peak_of(chosen[name], found)}
    return list(rows.values())


def family_names() -> list[tuple[str, str, str]]:
    """The 12 families of the paper's grid (bench_budget's SYMBOLS), encoder, decoder, marginal."""
    return list(itertools.product(*(list(table) for table in SYMBOLS)))


def symbol(family: tuple[str, str, str]) -> str:
    """The paper's three symbols, encoder·decoder·marginal, e.g. "−+v"."""
    return "".join(table[c] for table, c in zip(SYMBOLS, family, strict=True))


def family_costs(family: tuple[str, str, str], setting: Setting, args: argparse.Namespace,
                 found: dict[str, float]) -> dict:
    """One family under ``setting``: a training step, a validation batch, IWAE rows per
    second, and what a run and the grid of 7 β cost at the full budget."""
    device = torch.device(args.device)
    if device.type == "cuda":  # the IWAE budget is half the free memory: free the cache
        torch.cuda.empty_cache()
    overrides = [*PAPER, f"encoder={family[0]}", f"decoder={family[1]}", f"marginal={family[2]}"]
    system, x = build(overrides), images(device)
    step = trainer_step(system, x, setting)
    seconds_per_call(step, args.warmup, device)
    train = min(seconds_per_call(step, args.steps, device) for _ in range(args.repeats))
    flops = step_flops(step)
    model = system.model.eval()
    with torch.no_grad(), precision(setting, device):
        validation = seconds_per_call(lambda: model.terms(x), args.steps, device)
        rows = iwae_rows(model, x[:1])
        samples = max(1, min(TEST_SAMPLES, 2 * rows // BATCH))  # about two full passes
        iwae = seconds_per_call(lambda: iwae_log_likelihood(model, x, samples, rows), 1, device)
    run = (EPOCHS * STEPS_PER_EPOCH * train + EPOCHS * VAL_BATCHES * validation
           + TEST_EXAMPLES * TEST_SAMPLES * iwae / (BATCH * samples))
    return {"family": symbol(family), "encoder": family[0], "decoder": family[1],
            "marginal": family[2], "setting": setting.name, "train_images_per_s": BATCH / train,
            "fraction_of_peak": flops / train / 1e9 / peak_of(setting, found),
            "validation_images_per_s": BATCH / validation, "iwae_rows": rows,
            "iwae_rows_per_s": BATCH * samples / iwae, "run_hours": run / 3600,
            "grid_hours": BETAS * run / 3600}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    return f"CPU, {torch.get_num_threads()} threads"


def markdown(record: dict) -> str:
    peak = ", ".join(f"{k} {v:,.0f}" for k, v in record["peak_gflops"].items())
    lines = [f"{record['device']}; torch {record['torch']}. GEMM peak, GFLOP/s: {peak}.", "",
             "| model | setting | images/s | time vs fp32 | fraction of its peak | warm-up s |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['name']} | {r['images_per_s']:,.0f} | "
              f"{r['ratio_to_fp32']:.2f}× | {r['fraction_of_peak']:.0%} | {r['warmup_s']:.0f} |"
              for r in record["levers"]]
    lines += ["", "| family | setting | train images/s | fraction of its peak | validation "
              "images/s | IWAE rows/s | one run, h | grid of 7 β, h |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['family']} | {r['setting']} | {r['train_images_per_s']:,.0f} | "
              f"{r['fraction_of_peak']:.0%} | {r['validation_images_per_s']:,.0f} | "
              f"{r['iwae_rows_per_s']:,.0f} | {r['run_hours']:.2f} | {r['grid_hours']:.1f} |"
              for r in record["families"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true",
                        help="leave out the compiled settings (minutes of compilation; they "
                        "run last)")
    parser.add_argument("--models", nargs="*", default=list(LEVERS), choices=list(LEVERS),
                        help="the models whose levers are timed (default: both)")
    parser.add_argument("--families", nargs="*", default=None, metavar="SYMBOLS",
                        help='only these families, e.g. "−−−" "++v" (default: all 12)')
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    out = Path(args.out or RESULTS / f"gpu-{device.type}.json")
    record = {"device": device_name(device), "torch": torch.__version__, "batch": BATCH,
              "steps": args.steps, "repeats": args.repeats, "peak_gflops": peaks(device),
              "levers": [], "families": []}
    # each part is written as soon as it is done, so a run stopped by its time limit keeps
    # what it measured; the compiled settings (minutes of compilation) come last, each run of
    # them with its own fp32 baseline
    for model in args.models:
        eager = [s for s in LEVERS[model] if not s.compile]
        record["levers"] += levers(model, eager, args, record["peak_gflops"])
        write_record(out, record)
    for family in family_names():
        if args.families is None or symbol(family) in args.families:
            for setting in (Setting("fp32"), Setting("bf16", bf16=True)):
                record["families"].append(
                    family_costs(family, setting, args, record["peak_gflops"]))
            write_record(out, record)
    for model in [] if args.no_compile else args.models:
        compiled = [Setting("fp32"), *(s for s in LEVERS[model] if s.compile)]
        record["levers"] += levers(model, compiled, args, record["peak_gflops"])
        write_record(out, record)
    print(markdown(record), end="")


if __name__ == "__main__":
    main()
