"""Every bad input to the ``rdframe`` command stops before any work: exit status 2, one line
"rdframe: error: …" naming the key, the value and a fix, no stack trace, nothing written.

Each case runs the installed command in a fresh folder that also holds a finished run
(``{run}``: rd.json, checkpoints, logs). Config errors are aimed at that run's folder; all its
files must come out byte-identical, and no checkpoint or rd.json may appear anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, rdframe
from hydra.errors import InstantiationException

from rdframe.errors import ConfigError, DataError, NonFiniteError, RDFrameError, reportable

QUICK = ("trainer.max_epochs=1", "iwae_samples=8", "latent_dim=4")
SCHEDULE = "{_target_:rdframe.schedules.LinearWarmup,beta:1.0,steps:0}"


def train(*overrides: str, into: str = "{run}") -> tuple[str, ...]:
    """``rdframe train`` with short settings, written ``into`` a folder (the finished run's)."""
    return ("train", *QUICK, *overrides, f"hydra.run.dir={into}")


def case(args: tuple[str, ...], *words: str) -> pytest.param:
    shown = (a for a in args if a not in QUICK and not a.startswith("hydra.run.dir="))
    return pytest.param(args, words, id=" ".join(shown))


CASES = [
    # an option that no config group has
    case(train("encoder=nope"), "unknown option encoder=nope", "conv, gated_mlp, iaf, mlp"),
    case(train("data=nope"), "data=nope", "binarized_mnist, digits"),
    case(train("trainer=nope"), "trainer=nope", "cpu, ddp, ddp_cpu, gpu"),
    case(train("logger=nope"), "logger=nope", "csv, none, wandb"),
    case(train("experiment=nope"), "experiment=nope", "broken_elbo, ib, quickstart"),
    case(train("encoder=mpl"), "encoder=mpl", "did you mean 'mlp'"),
    # a key that the config does not have
    case(train("not_a_key=3"), "unknown key 'not_a_key'", "latent_dim", "+not_a_key=3"),
    case(train("latent_dimm=3"), "'latent_dimm'", "did you mean 'latent_dim'", "+latent_dimm=3"),
    case(train("encoder.hiden=[1]"), "'encoder.hiden'", "did you mean 'encoder.hidden'",
         "+encoder.hiden=[1]"),
    case(train("+encoder.hiden=[1]"), "encoder.hiden is not a parameter of GaussianMLPEncoder",
         "did you mean hidden"),
    case(train("+objective.betta=1"), "objective.betta", "BetaVAE", "did you mean beta"),
    case(train("+trainer.max_epoch=3"), "trainer.max_epoch", "Trainer", "max_epochs"),
    # an override that does not parse, or gives several values outside a sweep
    case(train("encoder="), "encoder= names no option", "encoder=conv"),
    case(train("latent_dim=["), "'latent_dim=['", "key=value"),
    case(train("latent_dim"), "'latent_dim'", "missing EQUAL", "key=value"),
    case(train("objective.beta=0.1,1"), "'objective.beta=0.1,1'", "rdframe sweep"),
    case(train("=3"), "cannot compose a config from", " =3 ", "Got int"),
    # values of the wrong type
    case(train("latent_dim=abc"), "latent_dim must be an int", "got 'abc'", "latent_dim=8"),
    case(train("latent_dim=2.5"), "latent_dim must be an int", "got 2.5"),
    case(train("encoder.hidden=abc"), "encoder.hidden must be a list of int", "got 'abc'",
         "encoder.hidden=[256,256]"),
    case(train("data.batch_size=true"), "data.batch_size", "got true"),
    case(train("trainer.max_epochs=abc"), "trainer.max_epochs", "got 'abc'"),
    case(train("data=synthetic", "data.source=3"), "data.source must be a string", "got 3"),
    case(train("analytic_rate=maybe"), "analytic_rate must be true or false", "got 'maybe'"),
    case(train("encoder._target_=rdframe.encoders.Nope"), "encoder._target_", "Nope"),
    case(train("latent_dim=${nope}"), "latent_dim cannot be resolved", "'nope'"),
    # values out of range
    case(train("latent_dim=0"), "latent_dim must be an int >= 1", "got 0"),
    case(train("latent_dim=-3"), "latent_dim", "got -3"),
    case(train("iwae_samples=0"), "iwae_samples must be an int >= 1", "got 0"),
    case(train("data.batch_size=0"), "data.batch_size must be an int >= 1", "got 0"),
    case(train("data.eval_batch_size=0"), "data.eval_batch_size", "or null", "got 0"),
    case(train("optimizer.lr=0"), "optimizer.lr must be a finite number > 0", "got 0",
         "optimizer.lr=1e-3"),
    case(train("optimizer.lr=-1e-3"), "optimizer.lr", "got -0.001"),
    case(train("optimizer.lr=nan"), "optimizer.lr", "got nan"),
    case(train("objective.beta=-1"), "objective.beta must be a finite number >= 0", "got -1"),
    case(train("objective=target_rate", "objective.sigma=-1"), "objective.sigma", "got -1"),
    case(train("seed=-1"), "seed must be an int >= 0", "got -1", "seed=0"),
    case(("sweep", *QUICK, "latent_dim=0,4", "hydra.sweep.dir={fresh}"), "latent_dim", "got 0"),
    # errors found while building, before training: written into a fresh folder
    case(train(f"objective.beta={SCHEDULE}", into="{fresh}"), "objective.beta", "steps",
         "got 0"),
    case(train("data=mnist", "data.data_dir={empty}", into="{fresh}"),
         "mnist: 4 of 4 files missing under {empty}", "train-images-idx3-ubyte",
         "data.download=true"),
    case(train("data=binarized_mnist", "data.data_dir={amat}", "data.cache_dir={cache}",
               into="{fresh}"),
         "binarized_mnist_train.amat is truncated", "78,400,000", "download it again"),
    case(train("data.binarize=false", into="{fresh}"), "does not fit decoder BernoulliMLPDecoder",
         "data.binarize=true"),
    case(train("data=synthetic", "data.source=gaussian", "objective=ib", into="{fresh}"),
         "InformationBottleneck", "no", "num_classes = 0", "data=digits"),
    case(train("decoder.output_shape=[1,4,4]", into="{fresh}"),
         "decoder BernoulliMLPDecoder do not fit data 'digits' of shape (1, 8, 8)",
         "decoder.output_shape"),
    case(train("encoder.input_shape=[1,28,28]", into="{fresh}"),
         "encoder GaussianMLPEncoder", "do not fit data 'digits' of shape (1, 8, 8)"),
    # the other commands
    case(("nope",), "unknown command 'nope'", "train, sweep, plot, report, evaluate"),
    case(("plot",), "rdframe plot", "required: paths"),
    case(("report", "{run}", "--csv"), "rdframe report", "--csv", "expected one argument"),
    case(("plot", "{missing}"), "{missing} does not exist"),
    case(("report", "{empty}"), "no rd.json found under {empty}"),
    case(("evaluate", "{empty}"), "{empty}/rd.json does not exist"),
]


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, str]:
    """The folders a case may name: a finished run, an empty folder, a missing one, a fresh
    run folder, a binarised-MNIST folder of truncated files, a cache."""
    finished_run(tmp_path / "run")
    (tmp_path / "empty").mkdir()
    short_amat_files(tmp_path / "amat" / "BinarizedMNIST")
    names = ("run", "empty", "missing", "fresh", "amat", "cache")
    return {name: str(tmp_path / name) for name in names}


def finished_run(folder: Path) -> None:
    """What a run leaves behind: its record, checkpoints and logs."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "logs").mkdir()
    record = {"rate": 3.0, "distortion": 20.0, "elbo": -23.0, "config": {"latent_dim": 8}}
    (folder / "rd.json").write_text(json.dumps(record))
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"weights" * 100)
    (folder / "checkpoints" / "best.ckpt").write_bytes(b"best weights" * 100)
    (folder / "logs" / "metrics.csv").write_text("step,train/loss\n0,30.0\n")


def short_amat_files(folder: Path) -> None:
    """Three well-formed .amat files of two images each: far shorter than the published ones."""
    folder.mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 2, (2, 784))
    text = "".join(" ".join(map(str, row)) + "\n" for row in pixels)
    for split in ("train", "valid", "test"):
        (folder / f"binarized_mnist_{split}.amat").write_text(text)


def fill(text: str, folders: dict[str, str]) -> str:
    """``text`` with each ``{name}`` of a folder replaced by its path (other braces kept)."""
    for name, path in folders.items():
        text = text.replace("{" + name + "}", path)
    return text


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def check_stopped(done, words: list[str]) -> None:
    """Status 2, one line on stderr naming ``words``, no stack trace anywhere."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("rdframe: error: "), done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in done.stderr + done.stdout


def check_untouched(root: Path, before: dict[Path, bytes]) -> None:
    """Every file there before is byte-identical; no checkpoint or rd.json is new."""
    after = snapshot(root)
    assert {p: after.get(p) for p in before} == before
    new = set(after) - set(before)
    assert not [p for p in new if p.suffix == ".ckpt" or p.name == "rd.json"], new


@pytest.mark.parametrize(("args", "words"), CASES)
def test_bad_input_stops_before_any_work(tmp_path, folders, args, words):
    before = snapshot(tmp_path)
    done = rdframe(*(fill(arg, folders) for arg in args), cwd=tmp_path)
    check_stopped(done, [fill(word, folders) for word in words])
    check_untouched(tmp_path, before)


def test_corrupt_idx_file_names_the_file(tmp_path):
    """MNIST with one label file cut short (the rest linked from the shared data folder)."""
    if not (SHARED_DATA / "MNIST").is_dir():
        pytest.skip(f"the shared data folder {SHARED_DATA} is absent on this machine")
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).symlink_to(SHARED_DATA / "MNIST" / "raw" / name)
    labels = (SHARED_DATA / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").read_bytes()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(labels[:5000])
    before = snapshot(tmp_path)
    done = rdframe(*train("data=mnist", f"data.data_dir={tmp_path / 'data'}",
                          f"data.cache_dir={tmp_path / 'cache'}", into="run"), cwd=tmp_path)
    check_stopped(done, ["t10k-labels-idx1-ubyte is truncated", "5,000 bytes", "10,008"])
    check_untouched(tmp_path, before)


@pytest.mark.parametrize("args", [train("latent_dim=0"), train("encoder=nope")])
def test_hydra_full_error_shows_the_stack_trace(tmp_path, folders, args):
    done = rdframe(*(fill(arg, folders) for arg in args), cwd=tmp_path,
                   env={"HYDRA_FULL_ERROR": "1"})
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("rdframe: error: ")


def test_exit_status_comes_from_the_error_class():
    assert reportable(ConfigError("latent_dim must be >= 1")).exit_code == 2
    assert reportable(DataError("mnist: 4 of 4 files missing")).exit_code == 2
    assert reportable(RDFrameError("no rd.json found")).exit_code == 2
    assert reportable(NonFiniteError("the loss became non-finite")).exit_code == 1
    assert reportable(ValueError("a bug")) is None


def test_an_error_raised_while_instantiating_is_named_after_its_key():
    try:
        try:
            raise ConfigError("the warm-up's steps must be >= 1, got 0")
        except ConfigError as error:
            message = "Error in call to target 'LinearWarmup':\nConfigError(…)\n" \
                      "full_key: objective.beta"
            raise InstantiationException(message) from error
    except InstantiationException as wrapped:
        reported = reportable(wrapped)
    assert isinstance(reported, ConfigError) and reported.exit_code == 2
    assert str(reported) == "objective.beta: the warm-up's steps must be >= 1, got 0"
