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
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--nll-samples", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    train, valid, test = (load(args.data_dir, s) for s in ("train", "valid", "test"))
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=40, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    config = BaseTrainerConfig(
        output_dir=str(args.out_dir), num_epochs=args.epochs, learning_rate=args.lr,
        per_device_train_batch_size=100, per_device_eval_batch_size=100,
        scheduler_cls="MultiStepLR", scheduler_params={"milestones": MILESTONES, "gamma": GAMMA},
        no_cuda=True, seed=args.seed, steps_saving=None)
    started = time.perf_counter()
    TrainingPipeline(training_config=config, model=model)(train_data=train, eval_data=valid)
    seconds = time.perf_counter() - started
    best = sorted(args.out_dir.glob("VAE_training_*/final_model"))[-1]
    model = VAE.load_from_folder(str(best)).eval()
    torch.manual_seed(args.seed)
    with torch.no_grad():
        nll = model.get_nll(test, n_samples=args.nll_samples, batch_size=100)
    result = {"epochs": args.epochs, "lr": args.lr, "train_seconds": round(seconds, 1),
              "test_nll": -float(nll), "nll_samples": args.nll_samples, "pythae_model": str(best)}
    (args.out_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
