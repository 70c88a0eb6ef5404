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

from ._checks import (check_choice, check_nonnegative_number, check_positive_int, check_positive_number, check_tensor,
                      check_unit_interval, check_values, validation)
from .models import AutoEncoder, VAE
from .objectives import LIKELIHOODS, ElboTerms, bernoulli_log_likelihood, negative_elbo, source_eq8_loss


# --- Reproducibility and hardware -----------------------------------------------------


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); returns a CPU generator with the same seed."""
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
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


def _free_cores() -> int:
    """The usable cores not already busy: cores minus the 1-minute load average, rounded, at least 1."""
    cores = _usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows): assume the machine is shared
        return max(1, cores // 2)
    return max(1, min(cores, int(cores - load + 0.5)))


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op CPU threads; ``None`` applies the book's policy (see README, Speed).

    The policy: ``VAE_LIB_THREADS`` when set, else the cores that are free when this is
    called (usable cores minus the load average), at most 8. Measured with ``python
    benchmarks/bench.py`` on a 2-core machine: idle, two threads train ~1.5x faster than one;
    with the other core busy, two OpenMP threads that wait for each other train many
    times slower than one.
    """
    if n is None:
        env = os.environ.get("VAE_LIB_THREADS")
        if env is not None and not env.strip().isdigit():
            raise ValueError(f"VAE_LIB_THREADS must be a positive integer, got {env!r}")
        n = int(env) if env else min(8, _free_cores())
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    torch.set_num_threads(n)
    return n


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


def source_eq8_objective(kl_weight: float = 1.0) -> Objective:
    """The source's Eq. (8) taken literally (per-pixel mean MSE + summed KL), its KL term times ``kl_weight``."""
    check_nonnegative_number("kl_weight", kl_weight)  # now, not at the first batch

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        logits, mu, logvar = model(x)
        return source_eq8_loss(x, torch.sigmoid(logits), mu, logvar, kl_weight=kl_weight)

    name = "source Eq. (8)" if kl_weight == 1 else f"source Eq. (8), KL weight {kl_weight:.3g}"
    return Objective(name, terms)


def ae_objective() -> Objective:
    """Reconstruction only: Bernoulli cross-entropy summed over pixels."""

    def terms(model: nn.Module, x: Tensor) -> ElboTerms:
        rec = -bernoulli_log_likelihood(x, model(x))
        return ElboTerms(rec, rec, torch.zeros_like(rec))  # an auto-encoder has no KL term

    return Objective("auto-encoder cross-entropy", terms, unit_interval=True)


def _terms(objective: Callable, model: nn.Module, x: Tensor) -> ElboTerms:
    terms = objective(model, x)
    if not isinstance(terms, ElboTerms):  # one type everywhere: a dict's keys could silently differ
        raise TypeError(f"objective must return vae_lib.objectives.ElboTerms, got {type(terms).__name__}")
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
def evaluate(model: nn.Module, objective: Objective, x: Tensor, batch_size: int = 1000) -> ElboTerms:
    """Mean of every term over ``x`` (per example), in eval mode, without gradients: ElboTerms of floats."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(objective):
        raise TypeError(f"objective must be a callable (model, x) -> ElboTerms, got {type(objective).__name__}")
    check_tensor("x", x)  # also refuses an empty x, whose mean would divide by zero
    check_positive_int("batch_size", batch_size)
    _check_data(objective, "x", x)  # once, where the data enter; not again in every batch
    was_training = model.training
    model.eval()
    sums = 0
    with validation(False):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            sums = sums + torch.stack(_terms(objective, model, xb)).detach() * xb.shape[0]
    model.train(was_training)
    return ElboTerms(*(sums.double().cpu() / x.shape[0]).tolist())


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
    validate: bool = False,
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
    """

    # every argument is checked before the model is touched, so a bad call leaves it as it was
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(objective):
        raise TypeError(f"objective must be an Objective or a callable (model, x) -> ElboTerms, "
                        f"got {type(objective).__name__}")
    check_tensor("x_train", x_train)
    if x_train.dim() < 1 or x_train.shape[0] < 1:
        raise ValueError(f"x_train must hold at least one row, got shape {tuple(x_train.shape)}")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if optimizer is None:
        check_positive_number("lr", lr)  # lr = 0 would train nothing, silently
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a vae_lib.training.History or None, got {type(history).__name__}")
    if not isinstance(validate, bool):
        raise TypeError(f"validate must be a bool, got {type(validate).__name__}")
    device = next(model.parameters()).device
    x_train = x_train.to(device)
    _check_data(objective, "x_train", x_train)  # once, where the data enter
    if x_heldout is not None:
        x_heldout = check_tensor("x_heldout", x_heldout).to(device)
        _check_data(objective, "x_heldout", x_heldout)
    history = history if history is not None else History()
    optimizer = optimizer or _default_optimizer(model, lr)
    g = torch.Generator(device=device).manual_seed(seed)
    n = x_train.shape[0]
    model.train()
    for epoch in _epochs(epochs, _progress_enabled(progress)):
        order = torch.randperm(n, device=device, generator=g)
        sums = 0
        with validation(validate):
            for start in range(0, n, batch_size):
                xb = x_train[order[start : start + batch_size]]
                terms = _terms(objective, model, xb)
                optimizer.zero_grad(set_to_none=True)
                terms.loss.backward()
                optimizer.step()
                # accumulate on the device: no host sync per batch
                sums = sums + torch.stack(terms).detach() * xb.shape[0]
        means = ElboTerms(*(sums.double().cpu() / n).tolist())._asdict()
        if not all(math.isfinite(v) for v in means.values()):
            # the batches ran without value scans, so divergence is caught here, once per epoch
            raise ValueError(f"training diverged in epoch {epoch + 1}: mean terms {means}; try a smaller lr")
        history.append("train", means)
        if x_heldout is not None:
            history.append("heldout", evaluate(model, objective, x_heldout)._asdict())
    model.eval()
    return history


# --- Checkpoints ------------------------------------------------------------------------


_CHECKPOINT_KEYS = ("kind", "config", "state_dict", "history", "sha256")


def _checkpoint_path(path: object) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {path} is a directory; pass a file name such as {path / 'model.pt'}")
    return path


def _check_module(model: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _model_config(model: nn.Module) -> dict | None:
    from .models import ModelConfig  # local: this section's imports stay out of the module header

    config = getattr(model, "config", None)
    return dict(vars(config)) if isinstance(config, ModelConfig) else None


def _state_digest(kind: str, config: dict | None, state_dict: dict, history: dict | None) -> str:
    """SHA-256 of all a checkpoint restores; tensors by their raw bytes, in sorted key order."""
    import hashlib
    import json

    h = hashlib.sha256(json.dumps([kind, config, history], sort_keys=True).encode())
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(json.dumps([key, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # bytes, so any dtype (numpy has no bfloat16)
    return h.hexdigest()


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporaries of saves to ``path`` whose process was killed (ours, for this target only)."""
    import re

    ours = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[a-z0-9_]+\.tmp")  # the name save_checkpoint uses
    for p in path.parent.iterdir():
        m = ours.fullmatch(p.name)
        if m and p.is_file() and not _process_alive(int(m[1])):
            p.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    # a live save (another process, another thread) must keep its temporary; without a safe probe
    # (on Windows os.kill(pid, 0) would terminate the process) every temporary counts as live
    if os.name != "posix" or not 0 < pid < 2**31:
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, as another user's
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut; Windows cannot open a folder, so POSIX only."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # a folder we may not open, or a file system that cannot sync one (some network mounts)
        pass


def save_checkpoint(path: str | os.PathLike, model: nn.Module, history: History | None = None) -> None:
    """Write the model's weights, config and history, with their SHA-256, atomically.

    A crash never leaves half a file at ``path``: the data go to a temporary
    ``.<name>.<pid>.<random>.tmp`` beside it, synced, then renamed. A temporary left by a
    killed save is removed by the next save to the same path.
    """
    path = _checkpoint_path(path)
    _check_module(model)
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a History or None, got {type(history).__name__}")
    terms = None
    if history is not None:
        if not isinstance(history.terms, dict):
            raise TypeError(f"history.terms must be a dict, got {type(history.terms).__name__}")
        terms = {}
        for key, values in history.terms.items():
            if not (isinstance(key, str) and isinstance(values, list)
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
                raise TypeError(f"history[{key!r}] must be a list of numbers under a str key, got {values!r}")
            terms[key] = [float(v) for v in values]  # plain floats: numpy scalars do not load with weights_only
    state_dict = model.state_dict()
    for key, t in state_dict.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"model.state_dict()[{key!r}] is a {type(t).__name__}; "
                            "a checkpoint stores tensors only")
    kind, config = type(model).__name__, _model_config(model)
    state = {"kind": kind, "config": config, "state_dict": state_dict, "history": terms,
             "sha256": _state_digest(kind, config, state_dict, terms)}
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes reach the disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _check_checkpoint_layout(path: Path, state: object) -> None:
    expected = f"expected a dict with keys {list(_CHECKPOINT_KEYS)}, as save_checkpoint writes"
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a vae_lib checkpoint: it holds a {type(state).__name__}; {expected}")
    keys = set(state)
    if keys == set(_CHECKPOINT_KEYS) - {"sha256"}:
        raise ValueError(
            f"{path} has no checksum: it was written by vae_lib 0.1. If you trust it, re-save it: state = "
            "torch.load(path, weights_only=True); model.load_state_dict(state['state_dict']); "
            "save_checkpoint(path, model, History(state['history'] or {}))"
        )
    if keys != set(_CHECKPOINT_KEYS):
        hint = ""
        if state and all(isinstance(v, Tensor) for v in state.values()):
            hint = " (a bare state_dict? load it with model.load_state_dict(torch.load(path, weights_only=True)))"
        raise ValueError(f"{path} is not a vae_lib checkpoint: it holds a dict with keys "
                         f"{sorted(map(str, keys))[:8]}; {expected}{hint}")
    config, state_dict, history = state["config"], state["state_dict"], state["history"]

    def str_dict(d: object, ok: Callable[[object], bool]) -> bool:
        return isinstance(d, dict) and all(isinstance(k, str) and ok(v) for k, v in d.items())

    entries_ok = (
        isinstance(state["kind"], str)
        and isinstance(state["sha256"], str)
        and (config is None or str_dict(config, lambda v: isinstance(v, (int, float, str, bool))))
        and str_dict(state_dict, lambda v: isinstance(v, Tensor))
        and (history is None
             or str_dict(history, lambda v: isinstance(v, list) and all(isinstance(x, float) for x in v)))
    )
    if not entries_ok:
        raise ValueError(f"{path} is not a vae_lib checkpoint: its entries have the wrong types; {expected}")


def _check_state_dict_fits(path: Path, saved: dict[str, Tensor], model_state: dict[str, Tensor]) -> None:
    # checked before copying: load_state_dict would copy the matching tensors, then raise
    problems = []
    if missing := sorted(model_state.keys() - saved.keys()):
        problems.append(f"missing {missing}")
    if unexpected := sorted(saved.keys() - model_state.keys()):
        problems.append(f"unexpected {unexpected}")
    for key in sorted(model_state.keys() & saved.keys()):
        a, b = saved[key], model_state[key]
        if a.shape != b.shape:
            problems.append(f"{key} has shape {tuple(a.shape)} in the checkpoint but {tuple(b.shape)} in model")
        elif a.dtype != b.dtype:
            problems.append(f"{key} is {a.dtype} in the checkpoint but {b.dtype} in model (convert model first)")
    if problems:
        raise ValueError(f"{path} does not fit model (another architecture?): {'; '.join(problems[:4])}")


def load_checkpoint(path: str | os.PathLike, model: nn.Module) -> History:
    """Load weights saved by :func:`save_checkpoint` into ``model``; returns the stored history.

    The file is read with ``weights_only=True`` (no code from it ever runs), its SHA-256
    verified and its architecture compared with ``model`` before any weight is copied:
    on an error ``model`` is unchanged.
    """
    path = _checkpoint_path(path)
    _check_module(model)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} not found")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not a checkpoint: an interrupted copy?")
    with open(path, "rb") as f:  # outside the try: an OSError here (permissions) names the path itself
        try:
            state = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # by the damage: EOFError, KeyError, OSError, RuntimeError, UnpicklingError
            raise ValueError(
                f"{path} is not a readable checkpoint: it is truncated or corrupt, was not written by "
                "torch.save, or holds objects other than tensors and plain containers (never unpickled: "
                "loading runs no code from the file)"
            ) from e
    _check_checkpoint_layout(path, state)
    kind, config, state_dict, history = (state[k] for k in _CHECKPOINT_KEYS[:4])
    if _state_digest(kind, config, state_dict, history) != state["sha256"]:
        raise ValueError(f"{path} is corrupt: its contents do not match the SHA-256 stored when it was saved")
    if kind != type(model).__name__:
        raise ValueError(f"{path}: checkpoint holds a {kind}, but model is a {type(model).__name__}")
    if config != _model_config(model):
        raise ValueError(f"{path}: checkpoint holds a {kind} with config {config}, but model has config "
                         f"{_model_config(model)}")
    _check_state_dict_fits(path, state_dict, model.state_dict())
    model.load_state_dict(state_dict)
    return History({k: list(v) for k, v in (history or {}).items()})


__all__ = [
    "AutoEncoder",
    "History",
    "Objective",
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
