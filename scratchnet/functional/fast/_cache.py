"""This machine's caches, read once from Linux's sysfs: what the tuned kernels size their blocks by.

The SGD update's slices (:mod:`scratchnet.optim.fast_sgd`) and the first convolutions'
cache blocking (:mod:`.conv`) pay only where a core's L2 is large; elsewhere whole arrays
are faster (``benchmarks/README.md`` has the measurements on both kinds of machine).
"""
from __future__ import annotations

import os
from typing import Optional

__all__ = ["l2_bytes"]


def l2_bytes(cpu: int = 0) -> Optional[int]:
    """One core's L2 cache in bytes, from Linux's sysfs; ``None`` where it cannot be read."""
    root = f"/sys/devices/system/cpu/cpu{cpu}/cache"
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    try:
        for index in sorted(os.listdir(root)):
            with open(os.path.join(root, index, "level")) as f:
                if f.read().strip() != "2":
                    continue
            with open(os.path.join(root, index, "size")) as f:
                text = f.read().strip().upper()
            return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    except (OSError, ValueError):
        pass
    return None
