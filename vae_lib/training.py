"""Training: seeding, device and thread choice, objectives, the loop, checkpoints.

The data set lives in one tensor on the device and batches are drawn by index,
so no per-sample Python runs in the hot loop (no ``Dataset``/``DataLoader``).
"""
from __future__ import annotations

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
from .models import AutoEncoder, VAE
from .objectives import bernoulli_log_likelihood, negative_elbo, source_eq8_loss

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


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op CPU threads; ``None`` applies the book's policy (see README, Speed).

    On small shared machines two OpenMP threads fighting over two busy cores can
    be many times slower than one, so the policy is one thread per *free* core,
    capped by ``VAE_LIB_THREADS`` when set.
    """
    if n is None:
        env = os.environ.get("VAE_LIB_THREADS")
        n = int(env) if env else max(1, min(4, (os.cpu_count() or 2) // 2))
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    torch.set_num_threads(n)
    return n


# --- Objectives: (model, x) -> {"loss": scalar, ...terms}, batch-mean nats ------------------


def vae_objective(likelihood: str = "bernoulli", beta: float = 1.0, variance: float = 1.0) -> Objective:
    """The negative ELBO (``beta = 1``) or a beta-weighted version of it."""
    check_choice("likelihood", likelihood, ("bernoulli", "gaussian"))

    def objective(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        logits, mu, logvar = model(x)
        t = negative_elbo(x, logits, mu, logvar, likelihood=likelihood, variance=variance, beta=beta)
        return {"loss": t.loss, "reconstruction": t.reconstruction, "kl": t.kl}

    return objective


def source_eq8_objective() -> Objective:
    """The source's Eq. (8) taken literally (per-pixel mean MSE + summed KL)."""

    def objective(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        logits, mu, logvar = model(x)
        t = source_eq8_loss(x, torch.sigmoid(logits), mu, logvar)
        return {"loss": t.loss, "reconstruction": t.reconstruction, "kl": t.kl}

    return objective


def ae_objective() -> Objective:
    """Reconstruction only: Bernoulli cross-entropy summed over pixels."""

    def objective(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        rec = -bernoulli_log_likelihood(x, model(x))
        return {"loss": rec, "reconstruction": rec}

    return objective


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
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator(device=device).manual_seed(seed)
    n = x_train.shape[0]
    model.train()
    for _ in tqdm(range(epochs), disable=not _progress_enabled(progress), desc="epochs"):
        order = torch.randperm(n, device=device, generator=g)
        sums: dict[str, Tensor] = {}
        for start in range(0, n, batch_size):
            xb = x_train[order[start : start + batch_size]]
            terms = objective(model, xb)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            # accumulate on the device: no host sync per batch
            for k, v in terms.items():
                sums[k] = sums.get(k, 0) + v.detach() * xb.shape[0]
        history.append("train", {k: float(v) / n for k, v in sums.items()})
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
