"""Shared fixtures for the unit tests: one torch thread, a headless plot backend, fresh seeds."""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import pytest
import torch

# Headless plots in this process only: an MPLBACKEND variable would be inherited by
# nbval's kernels and stop the chapters' figures from being displayed.
matplotlib.use("Agg")

# the benchmark lives outside the package (benchmarks/bench.py); the tests import it as `bench`
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
# ...and the book's markup (_ext/notebook_markup.py): the stored chapters' markdown is read as its MyST
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_ext"))

torch.set_num_threads(1)  # other jobs share the cores; one thread is also the fastest here


@pytest.fixture(autouse=True)
def _fresh_global_seed():
    """Each test starts from the same global RNG state, so no test depends on the order of others."""
    torch.manual_seed(0)
    yield


@pytest.fixture
def float64():
    """Run a test with float64 as torch's default dtype (exact comparisons against SciPy)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch.float64
    torch.set_default_dtype(previous)
