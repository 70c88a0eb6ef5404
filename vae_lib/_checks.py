"""Argument checks shared by the public API.

Every public function validates its inputs with these helpers so that bad input
fails early with a message that names the argument and says what was expected.
Nothing is silently coerced.
"""
from __future__ import annotations

import torch
from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")


def check_tensor(name: str, t: object, *, finite: bool = True) -> Tensor:
    """A floating-point tensor, finite unless ``finite=False``."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {t.dtype}")
    # a "meta" tensor has a shape but no values, so there is nothing to check for finiteness
    if finite and t.device.type != "meta" and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return t


def check_same(names: tuple[str, ...], *tensors: Tensor) -> None:
    """All tensors share one shape, dtype and device."""
    first = tensors[0]
    for name, t in zip(names[1:], tensors[1:]):
        if t.shape != first.shape:
            raise ValueError(
                f"{name} has shape {tuple(t.shape)} but {names[0]} has shape {tuple(first.shape)}; "
                "they must match"
            )
        if t.dtype != first.dtype:
            raise TypeError(f"{name} has dtype {t.dtype} but {names[0]} has dtype {first.dtype}")
        if t.device != first.device:
            raise ValueError(f"{name} is on {t.device} but {names[0]} is on {first.device}")


def check_nonnegative(name: str, t: Tensor) -> None:
    if bool((t < 0).any()):
        raise ValueError(f"{name} must be non-negative (a scale or variance cannot be negative)")


def check_positive_number(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{name} must be a finite positive number, got {value}")
    return float(value)


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def reduce_batch(per_example: Tensor, reduction: str) -> Tensor:
    """Reduce a (B,) tensor of per-example values: 'none' keeps it, 'mean'/'sum' over B."""
    check_reduction(reduction)
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example
