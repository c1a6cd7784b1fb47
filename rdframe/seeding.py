"""Random streams that are pure functions of the run's seed and of where the run stands.

A run's randomness is drawn per batch from a generator seeded by (seed, stage, epoch, batch,
rank), never from whatever state the global generator was left in. So a run restored from a
checkpoint draws what the uninterrupted run drew at the same batch, whatever Lightning did in
between (sanity checks, loader iterators, a different number of validation passes).
"""

from __future__ import annotations

import torch

MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """One step of SplitMix64 (Steele et al., 2014): a bijective mixing of 64-bit integers."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed from ``seed`` and integer ``keys``; any change of either gives another.

    >>> derive_seed(0, 1) == derive_seed(0, 1), derive_seed(0, 1) != derive_seed(1, 0)
    (True, True)
    >>> 0 <= derive_seed(2**70, -1) < 2**63
    True
    """
    x = _splitmix64(seed & MASK)
    for key in keys:
        x = _splitmix64(x ^ (key & MASK))
    return x >> 1


STAGES = {"train": 0, "val": 1, "test": 2, "sanity_check": 1, "predict": 3}


def seed_batch(seed: int, stage: str, *keys: int) -> None:
    """Seed torch's global generators for one batch of ``stage``: the CPU's, and every CUDA
    device's once CUDA is in use. (``torch.manual_seed`` would also queue a lazy seeding of
    CUDA, XPU and MTIA on a machine that has not started them, recording a stack trace each
    time: about 1 ms, a tenth of a small model's training step.)"""
    value = derive_seed(seed, STAGES[stage], *keys)
    torch.default_generator.manual_seed(value)
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(value)
