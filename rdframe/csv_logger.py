"""A CSV logger that a resumed run continues: the rows before the checkpoint stay, the rows
that the resumed run logs again replace their first versions."""

from __future__ import annotations

import csv
import os

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter


class ContinuedWriter(ExperimentWriter):
    """Lightning's CSV writer, except that it keeps an existing ``metrics.csv``. Its first new
    row at step s drops the rows of step s and later from the file: those were logged by the
    interrupted launch after its last checkpoint, and are logged again now."""

    def _check_log_dir_exists(self) -> None:
        self._trimmed = not os.path.isfile(self.metrics_file_path)
        if not self._trimmed:
            with open(self.metrics_file_path, newline="") as stream:
                self.metrics_keys = sorted(next(csv.reader(stream), []))

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        if not self._trimmed and step is not None:
            self._drop_rows_from(step)
        super().log_metrics(metrics_dict, step)

    def _drop_rows_from(self, step: int) -> None:
        with open(self.metrics_file_path, newline="") as stream:
            rows = [r for r in csv.DictReader(stream) if int(r.get("step") or 0) < step]
        with open(self.metrics_file_path, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows)
        self._trimmed = True


class ResumableCSVLogger(CSVLogger):
    """:class:`~pytorch_lightning.loggers.CSVLogger` whose ``metrics.csv`` survives a resume:
    a run killed and relaunched has one log of every step, as if never interrupted (up to
    rows flushed before the kill: the resume checkpoint flushes the loggers as it is saved)."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuedWriter(log_dir=self.log_dir)
        return self._experiment
