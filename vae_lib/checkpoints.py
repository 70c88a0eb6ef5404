"""Checkpoints: a model's weights, config and history, saved atomically with their SHA-256."""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn

from ._checks import check_instance
from .models import ModelConfig
from .training import History

_CHECKPOINT_KEYS = ("kind", "config", "state_dict", "history", "sha256")


def _checkpoint_path(path: object) -> Path:
    check_instance("path", path, (str, os.PathLike), "a str or os.PathLike")
    path = Path(cast("str | os.PathLike", path))
    if path.is_dir():
        raise ValueError(f"path {path} is a directory; pass a file name such as {path / 'model.pt'}")
    return path


def _check_module(model: object) -> None:
    check_instance("model", model, nn.Module, "a torch.nn.Module")


def _model_config(model: nn.Module) -> dict | None:
    config = getattr(model, "config", None)
    return dict(vars(config)) if isinstance(config, ModelConfig) else None


def _state_digest(kind: str, config: dict | None, state_dict: dict, history: dict | None) -> str:
    """SHA-256 of all a checkpoint restores; tensors by their raw bytes, in sorted key order."""
    h = hashlib.sha256(json.dumps([kind, config, history], sort_keys=True).encode())
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(json.dumps([key, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # bytes, so any dtype (numpy has no bfloat16)
    return h.hexdigest()


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporaries of saves to ``path`` whose process was killed (ours, for this target only)."""
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
    check_instance("history", history, History, "a History", optional=True)
    terms = None
    if history is not None:
        check_instance("history.terms", history.terms, dict, "a dict")
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


__all__ = ["load_checkpoint", "save_checkpoint"]
