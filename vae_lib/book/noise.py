"""Seeded noise, the same in Python and in the page: mulberry32 uniforms and Box-Muller normals,
mirrored bit for bit by ``explorers.js`` (``mulberry32``, ``seededNormal``), so an explorer's sample
cloud is the one the chapter draws."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._checks import check_int, check_positive_int


def seeded_uniform(n: int, seed: int) -> np.ndarray:
    """n draws in [0, 1) from mulberry32(seed), exactly as ``explorers.js`` makes them (float64)."""
    check_positive_int("n", n)
    check_int("seed", seed, low=0, high=2**32 - 1)  # mulberry32's state: 32 bits
    mask, a, out = 0xFFFFFFFF, seed, np.empty(n)

    def imul(x: int, y: int) -> int:  # Math.imul: the low 32 bits of the product
        return (x * y) & mask

    for i in range(n):
        a = (a + 0x6D2B79F5) & mask
        t = imul(a ^ (a >> 15), a | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & mask
        out[i] = (t ^ (t >> 14)) / 4294967296
    return out


def seeded_normal(n: int, dim: int, seed: int) -> Tensor:
    """(n, dim) standard normals, float64: Box-Muller on :func:`seeded_uniform`, as the page draws them."""
    check_positive_int("n", n)
    check_positive_int("dim", dim)
    total = n * dim
    u = seeded_uniform(total + total % 2, seed).reshape(-1, 2)
    radius, angle = np.sqrt(-2 * np.log(1 - u[:, 0])), 2 * math.pi * u[:, 1]
    z = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1).reshape(-1)[:total]
    return torch.from_numpy(z.reshape(n, dim).copy())


__all__ = ["seeded_normal", "seeded_uniform"]
