"""Training: objectives, the reference run, the loop and evaluation.

The data set lives in one tensor on the device and batches are drawn by index,
so no per-sample Python runs in the hot loop (no ``Dataset``/``DataLoader``).
Seeding, devices and threads are in :mod:`vae_lib.runtime`; checkpoints in
:mod:`vae_lib.checkpoints`.
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor, nn

from ._checks import (
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_nonnegative_int,
    check_nonnegative_number,
    check_positive_int,
    check_positive_number,
    check_tensor,
    check_unit_interval,
    check_values,
    validation,
)
from .objectives import LIKELIHOODS, ElboTerms, bernoulli_log_likelihood, negative_elbo, source_eq8_loss

# --- Objectives: (model, x) -> ElboTerms of batch-mean nats -----------------------------


class Objective:
    """A training objective: ``objective(model, x)`` returns :class:`~vae_lib.objectives.ElboTerms` in batch-mean nats.

    It also knows which data it accepts: :func:`fit` and :func:`evaluate` call
    ``check_data`` once on the whole data set, where it enters, and then run their
    batches without per-call value scans (``vae_lib.set_validation``). Any other
    callable with the same signature works too; its data are checked for NaN/inf only.
    """

    def __init__(self, name: str, terms: Callable[[nn.Module, Tensor], ElboTerms],
                 unit_interval: bool = False) -> None:
        self.name, self._terms, self.unit_interval = name, terms, unit_interval

    def __call__(self, model: nn.Module, x: Tensor) -> ElboTerms:
        return self._terms(model, x)

    def check_data(self, name: str, x: Tensor) -> None:
        check_values(name, x)
        if self.unit_interval:
            check_unit_interval(name, x, always=True)

    def __repr__(self) -> str:
        return f"Objective({self.name})"


def vae_objective(likelihood: str = "bernoulli", beta: float = 1.0, variance: float = 1.0) -> Objective:
    """The negative ELBO (``beta = 1``) or a beta-weighted version of it."""
    check_choice("likelihood", likelihood, LIKELIHOODS)

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        logits, mu, logvar = model(x)
        return negative_elbo(x, logits, mu, logvar, likelihood=likelihood, variance=variance, beta=beta)

    return Objective(f"negative ELBO, {likelihood}, beta={beta:g}", terms, unit_interval=likelihood != "gaussian")


def source_eq8_objective(beta: float = 1.0) -> Objective:
    """The source's Eq. (8) taken literally (per-pixel mean MSE + summed KL), its KL term times ``beta``."""
    check_nonnegative_number("beta", beta)  # now, not at the first batch

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        logits, mu, logvar = model(x)
        return source_eq8_loss(x, torch.sigmoid(logits), mu, logvar, beta=beta)

    name = "source Eq. (8)" if beta == 1 else f"source Eq. (8), beta={beta:.3g}"
    return Objective(name, terms)


def ae_objective() -> Objective:
    """Reconstruction only: Bernoulli cross-entropy summed over pixels."""

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        rec = -bernoulli_log_likelihood(x, model(x))
        return ElboTerms(rec, rec, torch.zeros_like(rec))  # an auto-encoder has no KL term

    return Objective("auto-encoder cross-entropy", terms, unit_interval=True)


def _terms(objective: Callable, model: nn.Module, x: Tensor) -> ElboTerms:
    terms = objective(model, x)
    # one type everywhere: a dict's keys could silently differ
    check_instance("objective(model, x)", terms, ElboTerms, "a vae_lib.objectives.ElboTerms")
    return terms


def _check_data(objective: Callable, name: str, x: Tensor) -> None:
    check = getattr(objective, "check_data", None)
    check(name, x) if callable(check) else check_values(name, x)


# --- The reference training run -----------------------------------------------------------


@dataclass(frozen=True)
class TrainingConfig:
    """How the book trains its reference models: one place, used by every chapter that trains."""

    epochs: int
    batch_size: int
    lr: float

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive_number("lr", self.lr)


# The reference VAE (and auto-encoder) of chapters 1, 2 and 6: ModelConfig() (784-400-20, as
# pytorch/examples) trained by fit(..., **vars(REFERENCE)) on the embedded 4,000 training digits.
REFERENCE = TrainingConfig(epochs=20, batch_size=128, lr=2e-3)


# --- The loop ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """An objective that changes with the epoch: ``fit(model, Schedule(lambda epoch: ...), x, ...)``.

    ``at(epoch)`` returns epoch ``epoch``'s objective (KL annealing ramps a weight this way). Every
    objective of a schedule must accept the same data: ``fit`` checks the data once, with epoch 0's.
    """

    at: Callable[[int], Callable]

    def __post_init__(self) -> None:
        check_callable("at", self.at, "a callable epoch -> objective")


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
    """The default: a bar only where it can be a widget (a notebook with ipywidgets, as in Colab).

    Without ipywidgets, tqdm.auto falls back to a text bar on stderr, which
    Jupyter shows as a pink box: nothing goes to stderr unasked.
    """
    if progress is not None:
        return progress
    if os.environ.get("CI") or os.environ.get("VAE_LIB_NO_PROGRESS"):
        return False
    return _widgets_available()


def _widgets_available() -> bool:
    import importlib.util
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    in_kernel = shell is not None and shell.__class__.__name__ != "TerminalInteractiveShell"
    return in_kernel and importlib.util.find_spec("ipywidgets") is not None


def _epochs(epochs: int, progress: bool):
    """range(epochs), with a progress bar when ``progress``: a widget in a notebook with ipywidgets, text elsewhere."""
    if not progress:
        return range(epochs)
    from tqdm.auto import tqdm

    return tqdm(range(epochs), desc="epochs")


def _default_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam, as one fused kernel where this torch has it for the parameters' device.

    Same update rule up to rounding; on one CPU thread the fused step is ~3x
    faster than the per-parameter loop (~15% of a training step; see benchmarks/bench.py).
    """
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except RuntimeError:  # torch < 2.4 on CPU, or a device without the fused kernel
        return torch.optim.Adam(model.parameters(), lr=lr)


@torch.no_grad()
def evaluate(model: nn.Module, objective: Objective | Callable[[nn.Module, Tensor], ElboTerms], x: Tensor,
             batch_size: int = 1000) -> ElboTerms:
    """Mean of every term over ``x`` (per example), in eval mode, without gradients: ElboTerms of floats."""
    check_instance("model", model, nn.Module, "a torch.nn.Module")
    check_callable("objective", objective, "a callable (model, x) -> ElboTerms")
    check_tensor("x", x)  # also refuses an empty x, whose mean would divide by zero
    check_positive_int("batch_size", batch_size)
    _check_data(objective, "x", x)  # once, where the data enter; not again in every batch
    was_training = model.training
    model.eval()
    sums: Tensor | int = 0
    with validation(False):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            terms = cast("tuple[Tensor, ...]", _terms(objective, model, xb))  # tensors inside a step
            sums = sums + torch.stack(terms).detach() * xb.shape[0]
    model.train(was_training)
    return ElboTerms(*(cast(Tensor, sums).double().cpu() / x.shape[0]).tolist())  # x holds at least one row


def _check_fit_arguments(model, objective, x_train, epochs, batch_size, lr, seed, history, optimizer, validate,
                         on_epoch) -> Callable[[int], Callable]:
    """Every argument of :func:`fit`, before the model is touched: a bad call leaves it as it was.
    Returns the objective of each epoch."""
    check_instance("model", model, nn.Module, "a torch.nn.Module")
    if not isinstance(objective, Schedule):
        check_callable("objective", objective, "an Objective, a Schedule or a callable (model, x) -> ElboTerms")
    check_tensor("x_train", x_train)
    if x_train.dim() < 1 or x_train.shape[0] < 1:
        raise ValueError(f"x_train must hold at least one row, got shape {tuple(x_train.shape)}")
    check_nonnegative_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if batch_size > x_train.shape[0] and epochs:
        # one short batch per epoch is rarely meant: the number of steps would silently differ
        warnings.warn(f"batch_size={batch_size} exceeds the {x_train.shape[0]} rows of x_train: each epoch is "
                      f"one batch of {x_train.shape[0]}", stacklevel=3)
    check_instance("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer", optional=True)
    if optimizer is None:
        check_positive_number("lr", lr)  # lr = 0 would train nothing, silently
    check_int("seed", seed)
    check_instance("history", history, History, "a vae_lib.training.History", optional=True)
    check_instance("validate", validate, bool, "a bool")
    check_callable("on_epoch", on_epoch, "a callable (epoch, history)", optional=True)
    return objective.at if isinstance(objective, Schedule) else lambda epoch: objective


def _objective_of_epoch(objective_at: Callable[[int], Callable], epoch: int) -> Callable:
    objective = objective_at(epoch)
    check_callable(f"objective: the schedule's objective for epoch {epoch}", objective,
                   "a callable (model, x) -> ElboTerms")
    return objective


def _train_epoch(model: nn.Module, objective: Callable, x_train: Tensor, order: Tensor, batch_size: int,
                 optimizer: torch.optim.Optimizer, validate: bool) -> dict[str, float]:
    """One pass over ``x_train`` in ``order``; the per-example means of the terms."""
    sums: Tensor | int = 0
    with validation(validate):
        for start in range(0, len(order), batch_size):
            xb = x_train[order[start : start + batch_size]]
            terms = _terms(objective, model, xb)
            optimizer.zero_grad(set_to_none=True)
            cast(Tensor, terms.loss).backward()  # tensors inside a step
            optimizer.step()
            # accumulate on the device: no host sync per batch
            sums = sums + torch.stack(cast("tuple[Tensor, ...]", terms)).detach() * xb.shape[0]
    return ElboTerms(*(cast(Tensor, sums).double().cpu() / len(order)).tolist())._asdict()  # order is not empty


def fit(
    model: nn.Module,
    objective: Objective | Schedule | Callable[[nn.Module, Tensor], ElboTerms],
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
    validate: bool = False,
    on_epoch: Callable[[int, History], None] | None = None,
) -> History:
    """Train with Adam on index batches of ``x_train`` (N, D), which is moved to the model's device.

    Returns (or extends) a :class:`History` with ``train/<term>`` per epoch and,
    when ``x_heldout`` is given, ``heldout/<term>``. ``progress=None`` shows a bar
    only as a widget (a notebook kernel with ipywidgets, as in Colab), and never
    when the environment variable ``CI`` or ``VAE_LIB_NO_PROGRESS`` is set.

    Speed (see ``python benchmarks/bench.py``): the data stay on the device, batches
    are index gathers, the loss terms accumulate on the device (one host sync per
    epoch), and Adam is fused. The data are scanned for bad values once, here
    (``objective.check_data``); the batches then run without per-call value scans
    unless ``validate=True``, and an epoch whose mean terms are not finite raises.

    ``objective`` may be a :class:`Schedule` (one objective per epoch); ``on_epoch(epoch, history)``,
    when given, runs after each epoch (to record a learned quantity, say). One generator seeded
    with ``seed`` orders the batches of all epochs.
    """
    objective_at = _check_fit_arguments(model, objective, x_train, epochs, batch_size, lr, seed, history,
                                        optimizer, validate, on_epoch)
    first = _objective_of_epoch(objective_at, 0)
    device = next(model.parameters()).device
    x_train = x_train.to(device)
    _check_data(first, "x_train", x_train)  # once, where the data enter
    if x_heldout is not None:
        x_heldout = check_tensor("x_heldout", x_heldout).to(device)
        _check_data(first, "x_heldout", x_heldout)
    history = history if history is not None else History()
    optimizer = optimizer or _default_optimizer(model, lr)
    g = torch.Generator(device=device).manual_seed(seed)
    model.train()
    for epoch in _epochs(epochs, _progress_enabled(progress)):
        objective = first if epoch == 0 else _objective_of_epoch(objective_at, epoch)
        order = torch.randperm(x_train.shape[0], device=device, generator=g)
        means = _train_epoch(model, objective, x_train, order, batch_size, optimizer, validate)
        if not all(math.isfinite(v) for v in means.values()):
            # the batches ran without value scans, so divergence is caught here, once per epoch
            raise ValueError(f"training diverged in epoch {epoch + 1}: mean terms {means}; try a smaller lr")
        history.append("train", means)
        if x_heldout is not None:
            history.append("heldout", evaluate(model, objective, x_heldout)._asdict())
        if on_epoch is not None:
            on_epoch(epoch, history)
    model.eval()
    return history


__all__ = ["History", "Objective", "REFERENCE", "Schedule", "TrainingConfig", "ae_objective", "evaluate", "fit",
           "source_eq8_objective", "vae_objective"]
