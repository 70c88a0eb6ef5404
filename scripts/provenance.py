"""What a training script records beside its results: the command, the versions and the CPU condition.

Used by scripts/eq8_controls.py and scripts/rate_distortion.py (scripts/ is on sys.path when they run),
so that every committed result says how to reproduce it and on what it was made.
"""
from __future__ import annotations

import os
import platform

import torch

import vae_lib


def provenance(command: str) -> dict:
    """The fields every committed results file starts with."""
    return {
        "command": command,
        "torch": torch.__version__, "vae_lib": vae_lib.__version__, "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "env": {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS") if k in os.environ},
    }
