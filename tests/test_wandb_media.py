"""W&B as its users expect, read back from what the real W&B library wrote offline (no mocks).

One offline sweep of two runs with ``logger=wandb``: each run's W&B folder holds the pictures
logged at validation and at the end, its summary holds rd.json's numbers, its config the
resolved config, its group the sweep's; a further run of that group holds the sweep's table.
The summary and config are read from the run's transaction log (``run-ID.wandb``): W&B's
LevelDB-style record log of its own protobuf ``Record`` messages.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import rdframe
from wandb.proto import wandb_internal_pb2

from rdframe.loggers import TABLE

SWEEP = ["logger=wandb", "objective.beta=0.5,2", "trainer.max_epochs=2", "latent_dim=4",
         "iwae_samples=8", "pictures.samples=8", "trainer.enable_progress_bar=false",
         "hydra.sweep.dir=grid"]
BLOCK, HEADER = 32768, 7  # the log's block size; a record's header: crc32, length, type
FULL, LAST = 1, 4


def records(path: Path) -> Iterator[Any]:
    """The protobuf records of a W&B transaction log, in order."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    position, parts = HEADER, b""  # the file starts with its own 7-byte header
    while position + HEADER <= len(data):
        if BLOCK - position % BLOCK < HEADER:  # a block's tail too short for a header: padding
            position += BLOCK - position % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + HEADER])
        if kind == 0:
            break
        parts += data[position + HEADER:position + HEADER + length]
        position += HEADER + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


def read_run(folder: Path) -> dict[str, Any]:
    """A W&B run folder's config, summary (last value of each top-level key), group and the
    files it logged, from its transaction log."""
    (log,) = folder.glob("run-*.wandb")
    run: dict[str, Any] = {"config": {}, "summary": {}, "group": None, "files": set()}
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["group"], run["name"] = record.run.run_group, record.run.display_name
        if kind in ("run", "config"):
            items = record.run.config.update if kind == "run" else record.config.update
            run["config"] |= {i.key: json.loads(i.value_json) for i in items if i.key}
        elif kind == "summary":
            run["summary"] |= {i.key: json.loads(i.value_json) for i in record.summary.update
                               if i.key}
        elif kind == "files":
            run["files"] |= {f.path for f in record.files.files}
    return run


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the sweep folder, what the command wrote to stderr)."""
    cwd = tmp_path_factory.mktemp("wandb")
    env = {"WANDB_MODE": "offline", "WANDB_CONFIG_DIR": str(cwd / "wandb-config"),
           "WANDB_CACHE_DIR": str(cwd / "wandb-cache"), "WANDB_DATA_DIR": str(cwd),
           "WANDB_API_KEY": None}
    done = rdframe("sweep", *SWEEP, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return cwd / "grid", done.stderr


def offline_run(folder: Path) -> Path:
    (run,) = (folder / "wandb").glob("offline-run-*")
    return run


def test_each_run_holds_its_pictures_as_media(sweep):
    folder, _ = sweep
    for job in ("0", "1"):
        media = offline_run(folder / job) / "files" / "media" / "images"
        for key in ("val/reconstructions", "val/samples", "pictures/reconstructions",
                    "pictures/samples", "pictures/traversals"):
            group, name = key.split("/")
            files = list((media / group).glob(f"{name}_*.png"))
            assert files and all(f.stat().st_size > 0 for f in files), key
        validations = list((media / "val").glob("samples_*.png"))
        assert len(validations) == 2  # one per validation (two epochs), no sanity check
        final = (folder / job / "pictures" / "samples.png").read_bytes()
        (logged,) = (media / "pictures").glob("samples_*.png")
        assert logged.read_bytes()[:4] == final[:4] == b"\x89PNG"


def test_summary_holds_rd_json_and_config_the_resolved_config(sweep):
    folder, _ = sweep
    for job, beta in (("0", 0.5), ("1", 2.0)):
        record = json.loads((folder / job / "rd.json").read_text())
        run = read_run(offline_run(folder / job))
        summary = run["summary"]
        for key in ("rate", "distortion", "elbo", "iwae_nll", "beta", "steps", "epochs"):
            assert summary[key] == record[key], key
        assert summary["family"] == "mlp/mlp/standard_normal" and "config" not in summary
        assert run["config"]["objective"]["beta"] == beta == record["config"]["objective"]["beta"]
        assert run["config"]["latent_dim"] == 4 and run["config"]["pictures"]["samples"] == 8
        assert run["group"] == "grid"  # one group per sweep: the sweep folder's name
        assert f"objective.beta={beta:g}" in run["name"]  # a job is named by its overrides


def test_the_sweep_has_a_table_of_every_run_in_its_group(sweep):
    folder, _ = sweep
    run = offline_run(folder)
    assert read_run(run)["group"] == "grid"
    (table,) = (run / "files" / "media" / "table").glob("rd_points_*.table.json")
    content = json.loads(table.read_text())
    assert content["columns"] == list(TABLE)
    rows = [dict(zip(TABLE, row, strict=True)) for row in content["data"]]
    assert [row["run"] for row in rows] == ["0", "1"]
    for row in rows:
        record = json.loads((folder / row["run"] / "rd.json").read_text())
        assert (row["beta"], row["rate"], row["distortion"], row["iwae_nll"]) == (
            record["beta"], record["rate"], record["distortion"], record["iwae_nll"])
    assert list((run / "files" / "media" / "images").glob("rd_plane_*.png"))


def test_each_offline_run_says_once_how_to_upload_it(sweep):
    folder, stderr = sweep
    lines = [line for line in stderr.splitlines() if "wandb sync" in line]
    runs = [offline_run(folder / "0"), offline_run(folder / "1"), offline_run(folder)]
    assert len(lines) == 3
    for run, line in zip(runs, lines, strict=True):
        assert line == (f"rdframe: W&B logged offline to {run}; upload it with "
                        f"`wandb sync {run}`")
