"""The Auto-Encoder and the Variational Auto-Encoder, as MLPs.

The default configuration is the reference 784-400-20 model of pytorch/examples,
so results compare. The VAE encoder returns ``(mu, logvar)`` (log-variance; see
:mod:`vae_lib.params`); the decoder returns Bernoulli *logits* over pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._checks import check_generator, check_instance, check_positive_int, check_same, check_tensor
from .params import logvar_to_std


@dataclass(frozen=True)
class ModelConfig:
    input_dim: int = 784  # 28 x 28 pixels, flattened
    hidden_dim: int = 400  # one hidden ReLU layer on each side, as in pytorch/examples
    latent_dim: int = 20  # J, the number of latent units

    def __post_init__(self) -> None:
        for name in ("input_dim", "hidden_dim", "latent_dim"):
            check_positive_int(name, getattr(self, name))


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _Base(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        check_instance("config", config, ModelConfig, "a ModelConfig")
        self.config = config
        c = config
        self.decoder = _mlp([c.latent_dim, c.hidden_dim, c.input_dim])

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _check_input(self, name: str, t: Tensor, dim: int) -> Tensor:
        check_tensor(name, t)
        if t.dim() != 2 or t.shape[1] != dim:
            raise ValueError(f"{name} must have shape (B, {dim}), got {tuple(t.shape)}")
        if t.device != self.device:
            raise ValueError(f"{name} is on {t.device} but the model is on {self.device}")
        if t.dtype != next(self.parameters()).dtype:
            raise TypeError(f"{name} has dtype {t.dtype} but the model uses {next(self.parameters()).dtype}")
        return t

    def decode(self, z: Tensor) -> Tensor:
        """z: (B, J) -> pixel logits (B, D); ``torch.sigmoid`` gives pixel means in [0, 1]."""
        return self.decoder(self._check_input("z", z, self.config.latent_dim))


class AutoEncoder(_Base):
    """A deterministic code: x -> z = e(x) -> logits of x_hat."""

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__(config)
        c = config
        self.encoder = _mlp([c.input_dim, c.hidden_dim, c.latent_dim])

    def code(self, x: Tensor) -> Tensor:
        """x: (B, D) -> z: (B, J), the code. (A VAE's ``encode`` returns a distribution's parameters instead,
        so the auto-encoder's deterministic map has its own name.)"""
        return self.encoder(self._check_input("x", x, self.config.input_dim))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, D) -> reconstruction logits (B, D)."""
        return self.decoder(self.code(x))


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): the noise is outside the parameters' path.

    mu, logvar: (..., J) -> z: (..., J).
    """
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    check_same(("mu", "logvar"), mu, logvar)
    check_generator("generator", generator, mu.device)
    eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device, generator=generator)
    # eq. reparameterisation
    return mu + logvar_to_std(logvar) * eps


class VAE(_Base):
    """q(z|x) = N(mu(x), diag exp(logvar(x))), p(z) = N(0, I), p(x|z) = Bernoulli(sigmoid(f(z)))."""

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__(config)
        c = config
        self.encoder_body = nn.Sequential(nn.Linear(c.input_dim, c.hidden_dim), nn.ReLU())
        # one head outputs both mu and logvar: a single GEMM instead of two
        self.encoder_head = nn.Linear(c.hidden_dim, 2 * c.latent_dim)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, D) -> (mu, logvar), each (B, J)."""
        h = self.encoder_body(self._check_input("x", x, self.config.input_dim))
        mu, logvar = self.encoder_head(h).chunk(2, dim=-1)
        return mu, logvar

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """x: (B, D) -> (logits (B, D), mu (B, J), logvar (B, J)), with one reparameterised z per x."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)
        return self.decoder(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n images from the model: z ~ N(0, I), returned as pixel means sigmoid(f(z)), (n, D)."""
        check_positive_int("n", n)
        p = next(self.parameters())
        check_generator("generator", generator, p.device)
        z = torch.randn(n, self.config.latent_dim, dtype=p.dtype, device=p.device, generator=generator)
        return torch.sigmoid(self.decode(z))
