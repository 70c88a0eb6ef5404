"""Training: seeding, device and thread choice, objectives, the loop, checkpoints.

The data set lives in one tensor on the device and batches are drawn by index,
so no per-sample Python runs in the hot loop (no ``Dataset``/``DataLoader``).
"""
from __future__ import annotations

import math
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import check_choice, check_tensor
from .models import AutoEncoder, VAE, _forward_unchecked
from .objectives import (
    _bernoulli_log_likelihood,
    _negative_elbo_per_example,
    _source_eq8_per_example,
    bernoulli_log_likelihood,
    negative_elbo,
    source_eq8_loss,
)

Objective = Callable[[nn.Module, Tensor], dict[str, Tensor]]


# --- Reproducibility and hardware -----------------------------------------------------


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); returns a CPU generator with the same seed."""
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    return torch.Generator().manual_seed(seed)


def choose_device(preference: str = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; or name one of them explicitly."""
    check_choice("preference", preference, ("auto", "cuda", "mps", "cpu"))
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(preference)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on (containers, taskset)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op CPU threads; ``None`` applies the book's policy (see README, Speed).

    The policy: ``VAE_LIB_THREADS`` when set, else half the cores this process may
    use, between 1 and 4 (one thread on a 2-core machine). Measured on a shared
    2-core machine with ``python -m vae_lib.bench``: when the other core is busy,
    two OpenMP threads that wait for each other train ~10x slower than one.
    """
    if n is None:
        env = os.environ.get("VAE_LIB_THREADS")
        n = int(env) if env else max(1, min(4, _usable_cores() // 2))
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    torch.set_num_threads(n)
    return n


# --- Objectives: (model, x) -> {"loss": scalar, ...terms}, batch-mean nats ------------------


def _check_unit_interval(x: Tensor) -> None:
    if bool(((x < 0) | (x > 1)).any()):
        raise ValueError("x_train must lie in [0, 1] for a Bernoulli likelihood")


def _with_trusted_twin(
    objective: Objective, trusted: Objective, check_data: Callable[[Tensor], None] | None = None
) -> Objective:
    """Attach a twin without argument checks, which :func:`fit` uses after its first batch.

    The twin does the same arithmetic op for op (same numbers); it only skips
    the per-batch value scans (isfinite, range), which cost ~15% of a CPU step
    and a host sync per batch on a GPU. ``check_data(x_train)`` runs them once
    on the whole data set instead.
    """
    objective._trusted = trusted  # type: ignore[attr-defined]
    objective._check_data = check_data or (lambda x: None)  # type: ignore[attr-defined]
    return objective


def vae_objective(likelihood: str = "bernoulli", beta: float = 1.0, variance: float = 1.0) -> Objective:
    """The negative ELBO (``beta = 1``) or a beta-weighted version of it."""
    check_choice("likelihood", likelihood, ("bernoulli", "gaussian"))

    def objective(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        logits, mu, logvar = model(x)
        t = negative_elbo(x, logits, mu, logvar, likelihood=likelihood, variance=variance, beta=beta)
        return {"loss": t.loss, "reconstruction": t.reconstruction, "kl": t.kl}

    def trusted(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        logits, mu, logvar = _forward_unchecked(model, x)
        t = _negative_elbo_per_example(x, logits, mu, logvar, likelihood, float(variance), beta)
        return {"loss": t.loss.mean(), "reconstruction": t.reconstruction.mean(), "kl": t.kl.mean()}

    return _with_trusted_twin(objective, trusted, _check_unit_interval if likelihood == "bernoulli" else None)


def source_eq8_objective() -> Objective:
    """The source's Eq. (8) taken literally (per-pixel mean MSE + summed KL)."""

    def objective(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        logits, mu, logvar = model(x)
        t = source_eq8_loss(x, torch.sigmoid(logits), mu, logvar)
        return {"loss": t.loss, "reconstruction": t.reconstruction, "kl": t.kl}

    def trusted(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        logits, mu, logvar = _forward_unchecked(model, x)
        t = _source_eq8_per_example(x, torch.sigmoid(logits), mu, logvar)
        return {"loss": t.loss.mean(), "reconstruction": t.reconstruction.mean(), "kl": t.kl.mean()}

    return _with_trusted_twin(objective, trusted)


def ae_objective() -> Objective:
    """Reconstruction only: Bernoulli cross-entropy summed over pixels."""

    def objective(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        rec = -bernoulli_log_likelihood(x, model(x))
        return {"loss": rec, "reconstruction": rec}

    def trusted(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        rec = -_bernoulli_log_likelihood(x, _forward_unchecked(model, x)).mean()
        return {"loss": rec, "reconstruction": rec}

    return _with_trusted_twin(objective, trusted, _check_unit_interval)


# --- The loop ---------------------------------------------------------------------------


@dataclass
class History:
    """Per-epoch means of every term: ``history["train/kl"][e]`` is epoch e's mean KL."""

    terms: dict[str, list[float]] = field(default_factory=dict)

    def append(self, prefix: str, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.terms.setdefault(f"{prefix}/{k}", []).append(v)

    def __getitem__(self, key: str) -> list[float]:
        return self.terms[key]

    def keys(self) -> list[str]:
        return list(self.terms)


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return not (os.environ.get("CI") or os.environ.get("VAE_LIB_NO_PROGRESS"))


def _default_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam, as one fused kernel where this torch has it for the parameters' device.

    Same update rule up to rounding; on one CPU thread the fused step is ~3x
    faster than the per-parameter loop (~15% of a training step; see vae_lib.bench).
    """
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except RuntimeError:  # torch < 2.4 on CPU, or a device without the fused kernel
        return torch.optim.Adam(model.parameters(), lr=lr)


@torch.no_grad()
def evaluate(model: nn.Module, objective: Objective, x: Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Mean of every term over ``x`` (per example), in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    sums: dict[str, Tensor] = {}
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        for k, v in objective(model, xb).items():
            sums[k] = sums.get(k, 0) + v * xb.shape[0]
    model.train(was_training)
    return {k: float(v) / x.shape[0] for k, v in sums.items()}


def fit(
    model: nn.Module,
    objective: Objective,
    x_train: Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    x_heldout: Tensor | None = None,
    seed: int = 0,
    progress: bool | None = None,
    history: History | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> History:
    """Train with Adam on index batches of ``x_train`` (N, D), which is moved to the model's device.

    Returns (or extends) a :class:`History` with ``train/<term>`` per epoch and,
    when ``x_heldout`` is given, ``heldout/<term>``. Progress bars are off when
    the environment variable ``CI`` or ``VAE_LIB_NO_PROGRESS`` is set.

    Speed (see ``python -m vae_lib.bench``): the data stay on the device, batches
    are index gathers, the loss terms accumulate on the device (one host sync per
    epoch), Adam is fused, and the book's objectives skip their per-batch value
    scans after the first batch (the data are checked once; a NaN/inf epoch loss
    raises).
    """
    from tqdm.auto import tqdm

    check_tensor("x_train", x_train)
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = next(model.parameters()).device
    x_train = x_train.to(device)
    if x_heldout is not None:
        x_heldout = check_tensor("x_heldout", x_heldout).to(device)
    history = history if history is not None else History()
    optimizer = optimizer or _default_optimizer(model, lr)
    g = torch.Generator(device=device).manual_seed(seed)
    n = x_train.shape[0]
    trusted = getattr(objective, "_trusted", None)
    if trusted is not None:
        objective._check_data(x_train)  # the value scans the trusted twin skips, once for all batches
    step_objective = objective  # the first batch is checked: bad arguments fail as they always did
    model.train()
    for epoch in tqdm(range(epochs), disable=not _progress_enabled(progress), desc="epochs"):
        order = torch.randperm(n, device=device, generator=g)
        sums: dict[str, Tensor] = {}
        for start in range(0, n, batch_size):
            xb = x_train[order[start : start + batch_size]]
            terms = step_objective(model, xb)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            # accumulate on the device: no host sync per batch
            for k, v in terms.items():
                sums[k] = sums.get(k, 0) + v.detach() * xb.shape[0]
            step_objective = trusted or objective
        means = {k: float(v) / n for k, v in sums.items()}
        if trusted is not None and not all(math.isfinite(v) for v in means.values()):
            # the per-batch NaN scans are skipped, so divergence is caught here, once per epoch
            raise ValueError(f"training diverged in epoch {epoch + 1}: mean terms {means}; try a smaller lr")
        history.append("train", means)
        if x_heldout is not None:
            history.append("heldout", evaluate(model, objective, x_heldout))
    model.eval()
    return history


# --- Checkpoints ------------------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike, model: nn.Module, history: History | None = None) -> None:
    """Write the model's weights, config and history atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "kind": type(model).__name__,
        "config": getattr(model, "config", None).__dict__ if hasattr(model, "config") else None,
        "state_dict": model.state_dict(),
        "history": history.terms if history is not None else None,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, model: nn.Module) -> History:
    """Load weights saved by :func:`save_checkpoint` into ``model``; returns the stored history."""
    state = torch.load(Path(path), map_location=next(model.parameters()).device, weights_only=True)
    if state["kind"] != type(model).__name__:
        raise ValueError(f"checkpoint holds a {state['kind']}, but model is a {type(model).__name__}")
    model.load_state_dict(state["state_dict"])
    return History(state["history"] or {})


__all__ = [
    "AutoEncoder",
    "History",
    "VAE",
    "ae_objective",
    "choose_device",
    "evaluate",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "set_threads",
    "source_eq8_objective",
    "vae_objective",
]
