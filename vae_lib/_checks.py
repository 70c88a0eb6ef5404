"""Argument checks shared by the public API.

Every public function validates its inputs with these helpers so that bad input
fails early with a message that names the argument and says what was expected.
Nothing is silently coerced.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")

# Value scans (NaN/inf, ranges) on every call, as torch.distributions' ``validate_args``: on by
# default, so a direct call with bad values fails clearly. Type, shape and device checks always run.
# fit and evaluate scan their data once, where it enters, and switch the scans off inside their loops
# (on a CPU the scans are ~20% of a training step; on a GPU each is a host sync).
_validate = True


def set_validation(enabled: bool) -> None:
    """Turn the per-call value scans of every public function on (the default) or off."""
    global _validate
    check_instance("enabled", enabled, bool, "a bool")
    _validate = enabled


def validation_enabled() -> bool:
    return _validate


@contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """``with validation(False): ...`` runs a block without per-call value scans, then restores the setting."""
    previous = _validate
    set_validation(enabled)
    try:
        yield
    finally:
        set_validation(previous)


def check_values(name: str, t: Tensor) -> Tensor:
    """The value scan itself, whatever the setting: for data where it enters (fit, evaluate, loaders)."""
    if t.device.type == "meta":
        return t
    # one reduction, no boolean copy of the data: NaN and inf survive a sum, and a sum that merely
    # overflows is re-checked value by value (about 10x faster on 4,000 images; benchmarks/bench.py)
    if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return t


def check_unit_interval(name: str, t: Tensor, *, always: bool = False) -> Tensor:
    """Values in [0, 1] (pixel intensities), scanned when validation is on or ``always``."""
    if (always or _validate) and t.device.type != "meta":
        low, high = torch.aminmax(t)  # one pass; NaN propagates, so NaN pixels are refused too
        if not (bool(low >= 0) and bool(high <= 1)):
            raise ValueError(f"{name} must lie in [0, 1] for a Bernoulli likelihood")
    return t


def _check_kind(name: str, value: object, ok: bool, what: str, optional: bool) -> None:
    """The one type check: a TypeError ``<name> must be <what>[ or None], got <type>`` unless ``ok``."""
    if not (ok or (optional and value is None)):
        raise TypeError(f"{name} must be {what}{' or None' if optional else ''}, got {type(value).__name__}")


def check_instance(name: str, value: object, kind: type | tuple[type, ...], what: str, *,
                   optional: bool = False) -> None:
    """``value`` is a ``kind`` (or None when ``optional``); ``what`` names the type for the message."""
    _check_kind(name, value, isinstance(value, kind), what, optional)


def check_bool(name: str, value: object) -> bool:
    """A bool (a flag): 0, 1 and "yes" are refused, not read as flags."""
    check_instance(name, value, bool, "a bool")
    return cast(bool, value)


def check_callable(name: str, value: object, what: str, *, optional: bool = False) -> None:
    """``value`` is callable (or None when ``optional``); ``what`` names the signature for the message."""
    _check_kind(name, value, callable(value), what, optional)


def check_tensor(name: str, t: object, *, finite: bool = True) -> Tensor:
    """A floating-point tensor, finite unless ``finite=False``."""
    check_instance(name, t, Tensor, "a torch.Tensor")
    t = cast(Tensor, t)
    if not t.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {t.dtype}")
    # Metadata checks, cheap and always on. A "meta" tensor has a shape but no values: every
    # value scan (and .item()) on it would fail deep inside torch, so it is refused here, once.
    if t.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor (a shape without values); pass a tensor with values")
    # an empty tensor would give NaN means or empty results without a word
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); it must hold at least one value")
    if finite and _validate:
        check_values(name, t)
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
    if _validate and bool((t < 0).any()):
        raise ValueError(f"{name} must be non-negative (a scale or variance cannot be negative)")


def check_positive_number(name: str, value: float) -> float:
    check_number(name, value)
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{name} must be a finite positive number, got {value}")
    return float(value)


def check_number(name: str, value: object) -> float:
    """``value`` itself, once known to be an int or a float (typed as a number for the callers)."""
    # one rule for every numeric argument: a wrong type is a TypeError, a wrong value a ValueError
    _check_kind(name, value, isinstance(value, (int, float)) and not isinstance(value, bool), "a number", False)
    return cast(float, value)


def check_nonnegative_number(name: str, value: object) -> float:
    """A finite real number >= 0 (a weight or a floor)."""
    number = check_number(name, value)
    if not (0 <= number < math.inf):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(number)


def check_finite_number(name: str, value: object) -> float:
    """A finite real number (bools and tensors are not numbers here)."""
    number = check_number(name, value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return float(number)


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """An int (a bool is not one here), within ``[low, high]`` where given."""
    _check_kind(name, value, isinstance(value, int) and not isinstance(value, bool), "an int", False)
    number = cast(int, value)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"in [{low}, {high}]" if low is not None and high is not None else (
            f">= {low}" if low is not None else f"<= {high}")
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")
    return number


def check_positive_int(name: str, value: object) -> int:
    """An int >= 1."""
    if check_int(name, value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value  # type: ignore[return-value]


def check_nonnegative_int(name: str, value: object) -> int:
    """An int >= 0 (a count that may be zero)."""
    if check_int(name, value) < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value  # type: ignore[return-value]


def check_fraction(name: str, value: object) -> float:
    """A number strictly between 0 and 1 (a probability mass, a share of the data)."""
    number = check_number(name, value)
    if not 0 < number < 1:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return float(number)


def check_range(name: str, value: object, *, positive: bool = False) -> tuple[float, float]:
    """A pair ``(lo, hi)`` of finite numbers with lo < hi (and lo > 0 when ``positive``: a log scale)."""
    check_instance(name, value, (tuple, list), "a pair (lo, hi)")
    value = tuple(cast("tuple | list", value))
    if len(value) != 2:
        raise ValueError(f"{name} must be a pair (lo, hi), got {value!r}")
    lo, hi = (check_finite_number(f"{name}[{i}]", v) for i, v in enumerate(value))
    if not lo < hi:
        raise ValueError(f"{name} must have lo < hi, got {value}")
    if positive and lo <= 0:
        raise ValueError(f"{name} must lie above 0 (it is log-spaced), got {value}")
    return lo, hi


def check_below(names: tuple[str, str], lo: float, hi: float) -> None:
    """``lo < hi`` for two bounds passed as two arguments, named as the caller named them."""
    if not lo < hi:
        raise ValueError(f"{names[0]} must be below {names[1]}, got {names[0]}={lo:g}, {names[1]}={hi:g}")


def check_generator(name: str, generator: object, device: torch.device) -> None:
    """None, or a torch.Generator for ``device``'s type (torch's own error names neither)."""
    if generator is None:
        return
    check_instance(name, generator, torch.Generator, "a torch.Generator", optional=True)
    generator = cast(torch.Generator, generator)
    if generator.device.type != device.type:
        raise ValueError(f"{name} is a generator for {generator.device.type}, but the samples are drawn on {device}")


def check_reduction(reduction: str) -> str:
    return check_choice("reduction", reduction, REDUCTIONS)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """One of the option names ``choices``: another type is a TypeError, another name a ValueError."""
    check_instance(name, value, str, "a str")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return cast(str, value)


def check_text(name: str, value: object) -> str:
    """A non-empty str (a name, a label, a statement)."""
    check_instance(name, value, str, "a str")
    if not value:
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")
    return cast(str, value)


def check_json(name: str, value: object) -> None:
    """``value`` is JSON a page can read: NaN, inf and other types are refused, naming where they are."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_instance(f"{name} key {k!r}", k, str, "a str")
            check_json(f"{name}[{k!r}]", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_json(f"{name}[{i}]", v)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite (the page reads JSON, which has no NaN or inf), got {value}")
    else:
        check_instance(name, value, (str, int, float), "JSON (dict, list, str, number, bool or None)", optional=True)


def reduce_batch(per_example: Tensor, reduction: str) -> Tensor:
    """Reduce a (B,) tensor of per-example values: 'none' keeps it, 'mean'/'sum' over B."""
    check_reduction(reduction)
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example
