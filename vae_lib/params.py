"""The book's one parameterisation of a diagonal Gaussian, and named conversions.

Throughout the book the encoder returns ``(mu, logvar)`` where
``logvar = log sigma^2`` is the log-*variance*. Every other form a reader meets
(the source's log standard deviation, a plain standard deviation, a variance)
is reached through one of these functions, never implied.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_nonnegative, check_tensor


def logvar_to_std(logvar: Tensor) -> Tensor:
    """sigma = exp(logvar / 2)."""
    return torch.exp(0.5 * check_tensor("logvar", logvar))


def logvar_to_var(logvar: Tensor) -> Tensor:
    """sigma^2 = exp(logvar)."""
    return torch.exp(check_tensor("logvar", logvar))


def logvar_to_logstd(logvar: Tensor) -> Tensor:
    """log sigma = logvar / 2 (the source's section-1 'sigma')."""
    return 0.5 * check_tensor("logvar", logvar)


def logstd_to_logvar(log_std: Tensor) -> Tensor:
    """logvar = 2 log sigma."""
    return 2.0 * check_tensor("log_std", log_std)


def std_to_logvar(std: Tensor) -> Tensor:
    """logvar = 2 log sigma, for sigma > 0."""
    check_tensor("std", std)
    check_nonnegative("std", std)
    if bool((std == 0).any()):
        raise ValueError("std must be strictly positive to have a log-variance")
    return 2.0 * torch.log(std)


def var_to_logvar(var: Tensor) -> Tensor:
    """logvar = log sigma^2, for sigma^2 > 0."""
    check_tensor("var", var)
    check_nonnegative("var", var)
    if bool((var == 0).any()):
        raise ValueError("var must be strictly positive to have a log-variance")
    return torch.log(var)
