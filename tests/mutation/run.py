"""``make mutation``: plant each mutant of :mod:`mutants` in a copy of the project, one at a time,
run its tests there, and report which the tests kill.

    python tests/mutation/run.py                 # every mutant, a table on the console
    python tests/mutation/run.py --write tests/mutation/RESULTS.md
    python tests/mutation/run.py --only "rd_terms" --only "sync_dist"

The working tree is never touched: the project (rdframe/, tests/ and the files the tests read)
is copied to a temporary folder, and every pytest runs there with that copy first on
PYTHONPATH, so that other work in the tree goes on undisturbed. Before any mutant, the tests run
on the unmutated copy; any that fail there are deselected from every mutant's run and listed
(a "kill" by a test that fails anyway would mean nothing). A mutant is killed when its tests
fail (or time out); it survives when they pass.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutants import MUTANTS, Mutant  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
COPIED = ("rdframe", "tests", "README.md", "setup.cfg", "pyproject.toml", "ruff.toml",
          "experiments")
TIMEOUT = 900  # seconds per pytest run: a mutant that hangs counts as killed


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    killed: bool
    by: str  # the first failing test, "timeout", or "" for a survivor
    seconds: float


def copy_project(target: Path) -> Path:
    """The project's sources and tests under ``target``, without caches or outputs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "runs", "outputs")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, target / name)
    return target


def environment(root: Path) -> dict[str, str]:
    """The copy first on the import path, offline W&B, and the data folder the tests use."""
    data = os.environ.get("RDFRAME_DATA_DIR") or str(REPO.parent / "shared" / "data")
    return {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1",
            "RDFRAME_DATA_DIR": data, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def check_imports_the_copy(root: Path) -> None:
    """Stop unless ``import rdframe`` in the copy's environment finds the copy."""
    found = subprocess.run([sys.executable, "-c", "import rdframe; print(rdframe.__file__)"],
                           cwd=root, env=environment(root), capture_output=True, text=True)
    if not found.stdout.strip().startswith(str(root)):
        sys.exit(f"mutation: the copy is not what Python imports ({found.stdout}{found.stderr})")


def check_mutants(mutants: list[Mutant]) -> None:
    """Stop before any work if a mutant's snippet is not found exactly once (stale list)."""
    for m in mutants:
        count = (REPO / m.file).read_text().count(m.old)
        if count != 1:
            sys.exit(f"mutation: {m.name!r}: its snippet occurs {count} times in {m.file}; "
                     f"update tests/mutation/mutants.py")


def pytest(root: Path, args: tuple[str, ...], first: bool = True) -> tuple[int, str]:
    """(exit status, output) of ``pytest [-x] ARGS`` in the copy; status −1 on a timeout."""
    command = [sys.executable, "-m", "pytest", *(["-x"] if first else []), "-q", "-rfE",
               "--no-header", "-p", "no:cacheprovider", *args]
    try:
        done = subprocess.run(command, cwd=root, env=environment(root), capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    return done.returncode, done.stdout + done.stderr


def failures(output: str) -> list[str]:
    """The node ids pytest's summary reports as failed or in error."""
    return re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)


def first_failure(output: str) -> str:
    found = failures(output)
    return found[0] if found else "error (see pytest output)"


def selection(m: Mutant) -> tuple[str, ...]:
    """The mutated file's doctests, then the mutant's tests."""
    return (m.file, *m.tests)


def union(mutants: list[Mutant]) -> tuple[str, ...]:
    """Every test any mutant runs, once: whole files, and node ids of files not run whole."""
    args = dict.fromkeys(arg for m in mutants for arg in selection(m))
    files = {arg for arg in args if "::" not in arg}
    return tuple(arg for arg in args if arg.split("::")[0] not in files or "::" not in arg)


def baseline(root: Path, mutants: list[Mutant]) -> list[str]:
    """Run every test the mutants run on the unmutated copy (one pytest run) and return those
    that fail there: they are deselected from every mutant's run (a kill by a test that fails
    anyway would mean nothing) and listed in the results, which then describe a tree with
    known failures; fix them and run again."""
    args = union(mutants)
    status, output = pytest(root, args, first=False)
    failing = failures(output)
    if status not in (0, 1) or (status == 1 and not failing):
        sys.exit(f"mutation: the unmutated project does not run:\n{output[-3000:]}")
    for test in failing:
        print(f"baseline FAILS (deselected from every mutant): {test}", flush=True)
    print(f"baseline: {len(failing)} failing of the tests in {' '.join(args)}", flush=True)
    return failing


def run_mutant(root: Path, m: Mutant, deselected: list[str], logs: Path | None) -> Outcome:
    """Plant ``m`` in the copy, run its tests (less those ``deselected``), restore the file;
    with ``logs``, keep pytest's output there as NN.log (NN the mutant's index)."""
    path = root / m.file
    original = path.read_text()
    path.write_text(original.replace(m.old, m.new))
    start = time.monotonic()
    skip = tuple(arg for test in deselected for arg in ("--deselect", test))
    try:
        status, output = pytest(root, (*selection(m), *skip))
    finally:
        path.write_text(original)
    seconds = time.monotonic() - start
    if logs is not None:
        (logs / f"{MUTANTS.index(m):02d}.log").write_text(output)
    if status == 0:
        return Outcome(m, False, "", seconds)
    if status == 5:
        sys.exit(f"mutation: no tests collected for {m.name!r}:\n{output[-2000:]}")
    return Outcome(m, True, "timeout" if status == -1 else first_failure(output), seconds)


def table(outcomes: list[Outcome]) -> str:
    lines = ["| | mutant | file | killed by | s |", "|---|---|---|---|---|"]
    for o in outcomes:
        mark = "killed" if o.killed else "**survived**"
        planted = f" (planted: {o.mutant.planted})" if o.mutant.planted else ""
        by = f"`{o.by}`" if o.by else "—"
        lines.append(f"| {mark} | {o.mutant.name}{planted} | `{o.mutant.file}` | {by} | "
                     f"{o.seconds:.0f} |")
    return "\n".join(lines) + "\n"


def summary(outcomes: list[Outcome], minutes: float, deselected: list[str]) -> str:
    killed = sum(o.killed for o in outcomes)
    survivors = [o for o in outcomes if not o.killed]
    text = (f"Kill rate: {killed}/{len(outcomes)} = {killed / len(outcomes):.0%} "
            f"({minutes:.1f} min)\n")
    if deselected:
        text += "\nDeselected, because they fail on the unmutated project:\n"
        text += "".join(f"- `{test}`\n" for test in deselected) + "\n"
    for o in survivors:
        text += f"- survived: {o.mutant.name} ({o.mutant.file}). {o.mutant.note}\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[],
                        help="run the mutants whose name contains this text (repeatable)")
    parser.add_argument("--write", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--logs", default=None, help="keep each mutant's pytest output here")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip running the tests on the unmutated project first")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or any(s in m.name for s in args.only)]
    logs = Path(args.logs).resolve() if args.logs else None
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    check_mutants(mutants)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rdframe-mutation-") as folder:
        root = copy_project(Path(folder))
        check_imports_the_copy(root)
        deselected = [] if args.no_baseline else baseline(root, mutants)
        outcomes = []
        for i, m in enumerate(mutants, 1):
            outcome = run_mutant(root, m, deselected, logs)
            outcomes.append(outcome)
            state = f"killed by {outcome.by}" if outcome.killed else "SURVIVED"
            print(f"[{i}/{len(mutants)}] {m.name}: {state} ({outcome.seconds:.0f} s)", flush=True)
    minutes = (time.monotonic() - start) / 60
    report = summary(outcomes, minutes, deselected)
    print("\n" + table(outcomes) + "\n" + report)
    if args.write:
        Path(args.write).write_text(HEADER + report + "\n" + table(outcomes))
    return 0


HEADER = """# Mutation testing: results

Written by `make mutation` (tests/mutation/run.py; the mutants are in tests/mutation/mutants.py).
Each mutant is one plausible wrong number planted in a copy of the project, in the code between
the objective and the rate–distortion plane (model, objectives, estimators, system, evaluate,
results, report, plot), and is run against the tests listed with it (with `-x`, after the
mutated file's doctests). The mutants are written by hand rather than generated: an operator
tool such as mutmut makes hundreds of mutants, most in messages and guards, and at 10–60 s of
pytest each would not fit in half an hour; each mutant here is a bug someone could write, and
a survivor is either explained as equivalent or answered by a test. "planted: survived" marks
the five bugs of issue 13 that once passed the whole suite, "planted: caught" the six
model-side bugs the suite already caught.

"""


if __name__ == "__main__":
    sys.exit(main())
