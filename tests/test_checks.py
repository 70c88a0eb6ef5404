"""Bad input gets a clear error that names the argument and says what was expected."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_lib import _checks
from vae_lib import objectives as O
from vae_lib import params as P
from vae_lib.models import VAE, AutoEncoder, ModelConfig, reparameterize

B, D, J = 3, 8, 2
NAN, INF = math.nan, math.inf


def x_():
    return torch.rand(B, D)


def logits_():
    return torch.randn(B, D)


def mu_():
    return torch.randn(B, J)


def lv_():
    return torch.randn(B, J)


def probs():
    return torch.full((B, 4), 0.25)


# Each public function with a builder of good arguments, keyed by the argument's name.
FUNCTIONS = {
    "kl_discrete": (O.kl_discrete, lambda: {"p": probs(), "q": probs()}),
    "kl_monte_carlo": (O.kl_monte_carlo, lambda: {"log_q": torch.randn(5, B), "log_p": torch.randn(5, B)}),
    "kl_to_standard_normal": (O.kl_diag_gaussian_to_standard_normal, lambda: {"mu": mu_(), "logvar": lv_()}),
    "kl_diag_gaussians": (O.kl_diag_gaussians,
                          lambda: {"mu_q": mu_(), "logvar_q": lv_(), "mu_p": mu_(), "logvar_p": lv_()}),
    "source_penalty": (O.source_penalty, lambda: {"mu": mu_(), "s": lv_()}),
    "kl_logstd": (O.kl_logstd_to_standard_normal, lambda: {"mu": mu_(), "log_std": lv_()}),
    "bernoulli": (O.bernoulli_log_likelihood, lambda: {"x": x_(), "logits": logits_()}),
    "gaussian": (O.gaussian_log_likelihood, lambda: {"x": x_(), "mean": x_(), "variance": 1.0}),
    "negative_elbo": (O.negative_elbo, lambda: {"x": x_(), "decoder_logits": logits_(), "mu": mu_(), "logvar": lv_()}),
    "source_eq8": (O.source_eq8_loss, lambda: {"x": x_(), "y": x_(), "mu": mu_(), "logvar": lv_()}),
}
TENSOR_ARGS = [(f, name) for f, (_, build) in FUNCTIONS.items() for name, v in build().items()
               if isinstance(v, torch.Tensor)]
REDUCING = ["kl_to_standard_normal", "kl_diag_gaussians", "bernoulli", "gaussian", "negative_elbo", "source_eq8"]


def call(fname, **override):
    f, build = FUNCTIONS[fname]
    return f(**{**build(), **override})


def test_the_good_arguments_are_accepted():
    for fname in FUNCTIONS:
        assert torch.isfinite(torch.as_tensor(call(fname)[0] if fname in ("negative_elbo", "source_eq8")
                                              else call(fname))).all()


@pytest.mark.parametrize("fname,arg", TENSOR_ARGS)
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_nan_and_inf_are_rejected(fname, arg, bad):
    t = FUNCTIONS[fname][1]()[arg].clone()
    t.view(-1)[1] = bad
    with pytest.raises(ValueError, match=f"^{arg} contains NaN or inf"):
        call(fname, **{arg: t})


@pytest.mark.parametrize("fname,arg", TENSOR_ARGS)
def test_integer_tensors_are_rejected(fname, arg):
    t = FUNCTIONS[fname][1]()[arg].round().long()
    with pytest.raises(TypeError, match=f"^{arg} must have a floating-point dtype, got torch.int64"):
        call(fname, **{arg: t})


@pytest.mark.parametrize("fname,arg", TENSOR_ARGS)
def test_non_tensors_are_rejected(fname, arg):
    a = FUNCTIONS[fname][1]()[arg].numpy()
    with pytest.raises(TypeError, match=f"^{arg} must be a torch.Tensor, got ndarray"):
        call(fname, **{arg: a})


@pytest.mark.parametrize("fname,arg", [(f, a) for f, a in TENSOR_ARGS if f != "negative_elbo"])
def test_float64_mixed_with_float32_is_rejected(fname, arg):
    t = FUNCTIONS[fname][1]()[arg].double()
    with pytest.raises(TypeError, match=f"{arg} has dtype torch.float64 but .* has dtype torch.float32"
                       f"|.* has dtype torch.float32 but {arg} has dtype torch.float64"):
        call(fname, **{arg: t})


def test_float64_mixed_with_float32_in_negative_elbo():
    for arg in ("decoder_logits", "logvar"):
        t = FUNCTIONS["negative_elbo"][1]()[arg].double()
        with pytest.raises(TypeError, match=f"{arg} has dtype torch.float64"):
            call("negative_elbo", **{arg: t})


@pytest.mark.parametrize("fname,arg", [(f, a) for f, a in TENSOR_ARGS if f != "kl_discrete"])
def test_mismatched_shapes_are_rejected(fname, arg):
    t = FUNCTIONS[fname][1]()[arg]
    bad = torch.cat([t, t[..., :1]], dim=-1)  # one extra column
    with pytest.raises(ValueError, match=f"{arg} has shape .* must match|has shape .* but {arg} has shape"):
        call(fname, **{arg: bad})


def test_mismatched_batch_sizes_in_the_losses():
    for fname in ("negative_elbo", "source_eq8"):
        with pytest.raises(ValueError, match=r"x must be \(B, [Dn]\) and mu \(B, J\) with the same B"):
            call(fname, mu=torch.randn(B + 1, J), logvar=torch.randn(B + 1, J))


def test_a_latent_dimension_is_required():
    with pytest.raises(ValueError, match=r"mu must have shape \(\.\.\., J\)"):
        O.kl_diag_gaussian_to_standard_normal(torch.tensor(0.0), torch.tensor(0.0))


@pytest.mark.parametrize("fname", REDUCING)
@pytest.mark.parametrize("reduction", ["avg", "Mean", None])
def test_unknown_reductions_are_rejected(fname, reduction):
    with pytest.raises(ValueError, match="reduction must be one of \\('none', 'mean', 'sum'\\)"):
        call(fname, reduction=reduction)


def test_unknown_likelihood_is_rejected():
    with pytest.raises(ValueError, match="likelihood must be one of \\('bernoulli', 'continuous_bernoulli', 'gaussian'\\), got 'poisson'"):
        call("negative_elbo", likelihood="poisson")


@pytest.mark.parametrize("beta", [-1.0, INF, NAN, "1", True, None])
def test_bad_beta_is_rejected(beta):
    wrong_type = not isinstance(beta, float)
    with pytest.raises(TypeError if wrong_type else ValueError,
                       match="beta must be a number, got" if wrong_type else "beta must be a finite number >= 0"):
        call("negative_elbo", beta=beta)


@pytest.mark.parametrize("variance,error", [(-1.0, ValueError), (0.0, ValueError), (INF, ValueError),
                                            (NAN, ValueError), (torch.tensor(1.0), TypeError), (True, TypeError)])
def test_bad_decoder_variance_is_rejected(variance, error):
    with pytest.raises(error, match="variance must be"):
        call("gaussian", variance=variance)
    with pytest.raises(error, match="variance must be"):
        call("negative_elbo", likelihood="gaussian", variance=variance)


def test_negative_scales_and_variances_are_rejected():
    with pytest.raises(ValueError, match="std must be non-negative"):
        P.std_to_logvar(torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="var must be non-negative"):
        P.var_to_logvar(torch.tensor([-1e-3]))
    with pytest.raises(ValueError, match="logvar contains NaN"):
        P.logvar_to_std(torch.tensor([NAN]))
    with pytest.raises(TypeError, match="log_std must have a floating-point dtype"):
        P.logstd_to_logvar(torch.tensor([1]))


def test_probability_vectors_are_checked():
    with pytest.raises(ValueError, match="p must be non-negative"):
        O.kl_discrete(torch.tensor([1.5, -0.5]), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="q must sum to 1 along dim=-1"):
        O.kl_discrete(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="q has shape"):
        O.kl_discrete(torch.tensor([0.5, 0.5]), torch.tensor([0.2, 0.3, 0.5]))


def test_quadrature_arguments_are_checked():
    f = torch.distributions.Normal(0.0, 1.0).log_prob
    for lower, upper in ((1.0, -1.0), (0.0, 0.0), (-INF, 1.0), (NAN, 1.0)):
        with pytest.raises(ValueError, match="lower and upper must be finite with lower < upper"):
            O.kl_quadrature(f, f, lower, upper)
    for n in (2, 10.0, "many"):
        with pytest.raises(ValueError, match="n_points must be an integer >= 3"):
            O.kl_quadrature(f, f, -1.0, 1.0, n_points=n)
    with pytest.raises(TypeError, match=r"log_p\(x\) must be a torch.Tensor"):
        O.kl_quadrature(lambda t: t.numpy(), f, -1.0, 1.0)


def test_bernoulli_needs_pixels_in_the_unit_interval():
    with pytest.raises(ValueError, match="x must lie in \\[0, 1\\]"):
        call("bernoulli", x=x_() + 1.0)


def test_source_eq8_equivalent_variance_needs_a_pixel_count():
    for n, error in ((0, ValueError), (-3, ValueError), (784.0, TypeError), (1.5, TypeError), ("784", TypeError)):
        with pytest.raises(error, match="n_pixels must be a positive integer" if error is ValueError
                           else "n_pixels must be an int"):
            O.source_eq8_equivalent_variance(n)


# --- Devices -------------------------------------------------------------------------------------


def test_device_mismatch_is_named():
    # no second real device on a CPU-only machine: the "meta" device stands in for one in the
    # helper; the public functions refuse meta tensors outright (tests/test_bad_input.py)
    with pytest.raises(ValueError, match="^logvar is a meta tensor"):
        O.kl_diag_gaussian_to_standard_normal(mu_(), lv_().to("meta"))
    with pytest.raises(ValueError, match="^mu_p is a meta tensor"):
        call("kl_diag_gaussians", mu_p=mu_().to("meta"), logvar_p=lv_().to("meta"))
    with pytest.raises(ValueError, match="b is on meta but a is on cpu"):
        _checks.check_same(("a", "b"), torch.zeros(2), torch.zeros(2, device="meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device for a real cross-device mix")
def test_cuda_cpu_mix_is_named():
    with pytest.raises(ValueError, match="logvar is on cuda:0 but mu is on cpu"):
        O.kl_diag_gaussian_to_standard_normal(mu_(), lv_().cuda())
    with pytest.raises(ValueError, match="x is on cpu but the model is on cuda:0"):
        VAE(ModelConfig(D, 4, J)).cuda()(x_())


def test_model_on_another_device_names_the_input():
    model = VAE(ModelConfig(D, 4, J)).to("meta")
    with pytest.raises(ValueError, match="x is on cpu but the model is on meta"):
        model.encode(x_())


# --- Models ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [VAE, AutoEncoder])
def test_model_inputs_are_checked(model_cls):
    model = model_cls(ModelConfig(D, 4, J))
    with pytest.raises(ValueError, match=rf"x must have shape \(B, {D}\), got \(3, {D + 1}\)"):
        model(torch.rand(B, D + 1))
    with pytest.raises(ValueError, match=rf"x must have shape \(B, {D}\), got \({D},\)"):
        model(torch.rand(D))
    with pytest.raises(TypeError, match="x has dtype torch.float64 but the model uses torch.float32"):
        model(torch.rand(B, D, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        model(torch.ones(B, D, dtype=torch.uint8))
    with pytest.raises(ValueError, match="x contains NaN"):
        model(torch.full((B, D), NAN))
    with pytest.raises(ValueError, match=rf"z must have shape \(B, {J}\)"):
        model.decode(torch.randn(B, J + 1))


def test_model_configuration_is_checked():
    for field in ("input_dim", "hidden_dim", "latent_dim"):
        with pytest.raises(ValueError, match=f"{field} must be a positive integer"):
            ModelConfig(**{field: 0})
    with pytest.raises(TypeError, match="config must be a ModelConfig, got dict"):
        VAE({"input_dim": 784})
    with pytest.raises(ValueError, match="n must be a positive integer"):
        VAE(ModelConfig(D, 4, J)).sample(0)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reparameterize_keeps_dtype_and_device(device, dtype):
    mu = torch.randn(2, 3, dtype=dtype, device=device)
    z = reparameterize(mu, torch.zeros_like(mu))
    assert z.dtype == mu.dtype and z.device == mu.device
    assert not torch.equal(z, mu)  # the noise was drawn, on mu's device


def test_reparameterize_draws_its_noise_on_the_inputs_device(monkeypatch):
    # A CPU-only machine has no second real device. "meta" stands in for one: let meta tensors past
    # the value checks (the public function refuses them), so that noise drawn on any device other
    # than mu's would fail to combine with mu ("Tensor on device cpu is not on the expected device meta").
    import vae_lib.models as M
    import vae_lib.params as P

    monkeypatch.setattr(M, "check_tensor", lambda name, t, **kw: t)
    monkeypatch.setattr(P, "check_tensor", lambda name, t, **kw: t)  # reparameterize converts with params
    mu = torch.zeros(2, 3, dtype=torch.float64, device="meta")
    z = reparameterize(mu, torch.zeros_like(mu))
    assert z.device == mu.device and z.dtype == mu.dtype and z.shape == mu.shape
    # and mu and logvar on different devices are refused, with both arguments named
    with pytest.raises(ValueError, match="^logvar is on meta but mu is on cpu"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 3, device="meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device for a real cross-device mix")
def test_reparameterize_refuses_mu_and_logvar_on_different_devices():
    with pytest.raises(ValueError, match="^logvar is on cuda:0 but mu is on cpu"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 3, device="cuda"))
    with pytest.raises(ValueError, match="^generator is a generator for cpu, but the samples are drawn on cuda"):
        reparameterize(torch.zeros(2, 3, device="cuda"), torch.zeros(2, 3, device="cuda"), generator=torch.Generator())


def test_check_helpers_directly():
    assert _checks.reduce_batch(torch.tensor([1.0, 3.0]), "mean").item() == 2.0
    with pytest.raises(ValueError, match="must be a finite positive number"):
        _checks.check_positive_number("scale", -2)
    assert _checks.check_tensor("inf_ok", torch.tensor([INF]), finite=False).isinf().all()
    with pytest.raises(ValueError, match="colour must be one of \\('red',\\), got 'blue'"):
        _checks.check_choice("colour", "blue", ("red",))
    assert np.isfinite(_checks.check_positive_number("scale", 2))
