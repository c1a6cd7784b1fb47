"""pythae 0.1.2's VAE with the architecture of `experiment=repro_vae`, for a side-by-side run.

784-400-40 Gaussian encoder (ReLU), mirrored Bernoulli decoder, Adam at batch 100 (1e-3 as the
preset, ``--lr 1e-4`` as pythae's own reproduction script), the learning rate times 10^(-1/5)
at epochs 200, 350, 500, 750 and 1000, pythae's own selection of the best model on the
validation loss, then pythae's ``get_nll`` on the test split.
Runs in its own environment (pythae is never a dependency of rdframe):

    python -m venv pythae-venv
    pythae-venv/bin/pip install --constraint constraints.txt pythae==0.1.2
    OMP_NUM_THREADS=1 pythae-venv/bin/python experiments/reproductions/pythae_vae.py \\
        DATA_DIR OUT_DIR --epochs 100

DATA_DIR holds BinarizedMNIST/binarized_mnist_{train,valid,test}.amat (rdframe's layout).
Writes OUT_DIR/result.json.

By default pythae's ``TrainingPipeline`` trains (the benchmarks' comparison). With
``--resumable``, for runs of hours, pythae's own ``BaseTrainer`` runs each epoch as its
``train`` does (``train_step``, ``eval_step``, the scheduler's step, the best model kept on the
validation loss), and the whole state (weights, best weights, optimiser, scheduler, random
state) is saved in OUT_DIR/state.pt after every epoch: the same command, after a kill, goes on
from the last finished epoch as an uninterrupted run would have. pythae's own checkpoints hold
the best model with the current optimiser, so they cannot resume a run.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from pythae.data.preprocessors import DataProcessor
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainer, BaseTrainerConfig
from torch import nn

MILESTONES, GAMMA = [200, 350, 500, 750, 1000], 10 ** (-1 / 5)


class Encoder(BaseEncoder):
    def __init__(self, hidden: int = 400, latent: int = 40) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU())
        self.loc, self.log_var = nn.Linear(hidden, latent), nn.Linear(hidden, latent)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = self.body(x)
        return ModelOutput(embedding=self.loc(h), log_covariance=self.log_var(h))


class Decoder(BaseDecoder):
    def __init__(self, hidden: int = 400, latent: int = 40) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 784),
                                 nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> ModelOutput:
        return ModelOutput(reconstruction=self.net(z).reshape(-1, 1, 28, 28))


def load(data_dir: Path, split: str) -> torch.Tensor:
    path = data_dir / "BinarizedMNIST" / f"binarized_mnist_{split}.amat"
    return torch.from_numpy(np.loadtxt(path, dtype=np.float32)).reshape(-1, 1, 28, 28)


def train_pipeline(model: VAE, config: BaseTrainerConfig, train: torch.Tensor,
                   valid: torch.Tensor, out_dir: Path) -> tuple[VAE, dict]:
    """pythae's TrainingPipeline; its best model (``final_model``) and the train time."""
    started = time.perf_counter()
    TrainingPipeline(training_config=config, model=model)(train_data=train, eval_data=valid)
    seconds = time.perf_counter() - started
    best = sorted(out_dir.glob("VAE_training_*/final_model"))[-1]
    return VAE.load_from_folder(str(best)), {"train_seconds": round(seconds, 1),
                                             "pythae_model": str(best)}


def train_resumable(model: VAE, config: BaseTrainerConfig, train: torch.Tensor,
                    valid: torch.Tensor, out_dir: Path, epochs: int) -> tuple[VAE, dict]:
    """pythae's BaseTrainer epoch by epoch, its state saved after each (see the module's
    docstring); the best model on the validation loss, the train time of every launch."""
    trainer = BaseTrainer(model=model, train_dataset=DataProcessor.to_dataset(train),
                          eval_dataset=DataProcessor.to_dataset(valid), training_config=config)
    trainer.prepare_training()
    state_path = out_dir / "state.pt"
    state = {"epoch": 0, "best_loss": float("inf"), "best": None, "seconds": 0.0}
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        print(f"resuming after epoch {state['epoch']} of {epochs}", flush=True)
    for epoch in range(state["epoch"] + 1, epochs + 1):
        started = time.perf_counter()
        trainer.train_step(epoch)
        loss = trainer.eval_step(epoch)
        trainer._schedulers_step(loss)
        print(f"epoch {epoch}: eval loss {loss:.4f}", flush=True)
        if loss < state["best_loss"]:
            state |= {"best_loss": loss, "best": copy.deepcopy(trainer.model.state_dict()),
                      "best_epoch": epoch}
        state |= {"epoch": epoch, "model": trainer.model.state_dict(),
                  "optimizer": trainer.optimizer.state_dict(),
                  "scheduler": trainer.scheduler.state_dict(), "rng": torch.get_rng_state(),
                  "seconds": state["seconds"] + time.perf_counter() - started}
        torch.save(state, state_path.with_suffix(".tmp"))
        os.replace(state_path.with_suffix(".tmp"), state_path)
    model.load_state_dict(state["best"])
    return model, {"train_seconds": round(state["seconds"], 1),
                   "best_epoch": state["best_epoch"], "best_eval_loss": state["best_loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--nll-samples", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--resumable", action="store_true",
                        help="save the whole state every epoch and go on from it when rerun")
    args = parser.parse_args()
    train, valid, test = (load(args.data_dir, s) for s in ("train", "valid", "test"))
    torch.manual_seed(args.seed)  # the initial weights too
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=40, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    config = BaseTrainerConfig(
        output_dir=str(args.out_dir), num_epochs=args.epochs, learning_rate=args.lr,
        per_device_train_batch_size=100, per_device_eval_batch_size=100,
        scheduler_cls="MultiStepLR", scheduler_params={"milestones": MILESTONES, "gamma": GAMMA},
        no_cuda=True, seed=args.seed, steps_saving=None)
    if args.resumable:
        model, extra = train_resumable(model, config, train, valid, args.out_dir, args.epochs)
    else:
        model, extra = train_pipeline(model, config, train, valid, args.out_dir)
    model.eval()
    torch.manual_seed(args.seed)
    with torch.no_grad():
        nll = model.get_nll(test, n_samples=args.nll_samples, batch_size=100)
    result = {"epochs": args.epochs, "lr": args.lr, **extra, "test_nll": -float(nll),
              "nll_samples": args.nll_samples}
    (args.out_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
