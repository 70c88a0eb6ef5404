"""The runtime: seeding, the device and the CPU thread policy (README, Speed)."""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from ._checks import check_choice, check_int, check_positive_int

# --- Reproducibility and hardware -----------------------------------------------------


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); returns a CPU generator with the same seed."""
    check_int("seed", seed)  # a bool is refused too, as everywhere else a seed is taken
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    return torch.Generator().manual_seed(seed)


def choose_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; or name one of them explicitly."""
    # the parameter is called ``device`` so that the message is right for book.setup(device=...) too
    check_choice("device", device, ("auto", "cuda", "mps", "cpu"))
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps:
            return torch.device("mps")
        return torch.device("cpu")
    # torch would only fail at the first tensor moved there, with an error that names no argument
    if (device == "cuda" and not torch.cuda.is_available()) or (device == "mps" and not mps):
        raise ValueError(f"device={device!r} is not available on this machine; use 'auto' or 'cpu'")
    return torch.device(device)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on (containers, taskset)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


def _cpu_jiffies(cpus: set[int]) -> tuple[int, int] | None:
    """Busy and total clock ticks so far of the CPUs ``cpus``, from /proc/stat (Linux); None elsewhere."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = total = seen = 0
    for line in lines:
        name, *fields = line.split()
        if name[:3] == "cpu" and name[3:].isdigit() and int(name[3:]) in cpus:
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            total, busy, seen = total + sum(ticks), busy + sum(ticks) - ticks[3] - ticks[4], seen + 1
    return (busy, total) if seen else None


def _busy_elsewhere(window: float = 0.2) -> float | None:
    """How many of this process's cores other processes keep busy now, sampled over ``window`` s.

    Not the load average: it lags by a minute, so it still counts a job that has just ended (a
    benchmark's previous run, say) and misses one that has just begun.
    """
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # not on Linux
        return None
    before, own, start = _cpu_jiffies(cpus), time.process_time(), time.monotonic()
    time.sleep(window)
    after = _cpu_jiffies(cpus)
    if before is None or after is None:
        return None
    busy = (after[0] - before[0]) / os.sysconf("SC_CLK_TCK") - (time.process_time() - own)  # less our own threads
    return max(0.0, busy / (time.monotonic() - start))


def _free_cores() -> int:
    """The usable cores not busy with other processes (rounded, at least 1): sampled now where the
    system says (Linux), else the cores minus the 1-minute load average."""
    cores = _usable_cores()
    busy = _busy_elsewhere()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average (Windows): assume the machine is shared
            return max(1, cores // 2)
    return cores_left(cores, busy)


def cores_left(cores: int, busy: float) -> int:
    """The rounding rule of the thread policy: ``cores`` less ``busy`` of them, to the nearest core, in [1, cores]."""
    return max(1, min(cores, int(cores - busy + 0.5)))


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op CPU threads; ``None`` applies the book's policy (see README, Speed).

    The policy: ``VAE_LIB_THREADS`` when set, else the cores that are free when this is
    called (usable cores minus those other processes keep busy, sampled for 0.2 s), at most 8. Measured with ``python
    benchmarks/bench.py`` on a 2-core machine: idle, two threads train ~1.5x faster than one;
    with the other core busy, two OpenMP threads that wait for each other train many
    times slower than one.
    """
    if n is None:
        env = os.environ.get("VAE_LIB_THREADS")
        if env is not None and not env.strip().isdigit():
            raise ValueError(f"VAE_LIB_THREADS must be a positive integer, got {env!r}")
        n = int(env) if env else min(8, _free_cores())
    check_positive_int("n", n)
    torch.set_num_threads(n)
    return n


__all__ = ["choose_device", "seed_everything", "set_threads"]
