"""Bad input gets a ValueError or TypeError whose message names the argument (vae_lib 0.2).

One section per function or class, for the cases users found; the last section feeds
random bad input (Hypothesis) to every public function of ``objectives``, ``params``,
``models.reparameterize`` and ``evaluation``. Each test fails if the check is removed:
the raw error that escapes instead is another type, or its message names no argument.
"""
from __future__ import annotations

import functools
import inspect
import math
import re

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bench  # benchmarks/bench.py (tests/conftest.py puts it on the path)

from vae_lib import book, divergences, evaluation, plotting, runtime, training
from vae_lib import objectives as O
from vae_lib import params as P
from vae_lib.book import live
from vae_lib.chapters import (
    bayes_rewrite,
    closed_form_kl,
    code_plane,
    diagnostics,
    encoder_gaussian,
    gaussian_channel,
    gradients,
    kl_fits,
    latent,
    linear_gaussian,
)
from vae_lib.models import VAE, AutoEncoder, ModelConfig, reparameterize

NAN, INF = math.nan, math.inf
B, D, J = 3, 8, 2
F64 = torch.float64


def tiny_vae() -> VAE:
    torch.manual_seed(0)
    return VAE(ModelConfig(D, 4, J))


def pixels(n: int = B) -> torch.Tensor:
    return torch.rand(n, D)


# --- check_tensor: meta tensors, for every function that takes tensors ----------------------------

# name -> (function, builder of good keyword arguments); float32 tensors of small shapes
TENSOR_FUNCTIONS = {
    "normal_log_prob": (O.normal_log_prob, lambda: dict(x=torch.randn(B, J), mu=torch.randn(B, J),
                                                        logvar=torch.randn(B, J))),
    "kl_discrete": (O.kl_discrete, lambda: dict(p=torch.full((B, 4), 0.25), q=torch.full((B, 4), 0.25))),
    "kl_monte_carlo": (O.kl_monte_carlo, lambda: dict(log_q=torch.randn(5, B), log_p=torch.randn(5, B))),
    "mc_estimate": (O.mc_estimate, lambda: dict(values=torch.randn(5, B))),
    "kl_diag_gaussian_to_standard_normal": (O.kl_diag_gaussian_to_standard_normal,
                                            lambda: dict(mu=torch.randn(B, J), logvar=torch.randn(B, J))),
    "kl_diag_gaussians": (O.kl_diag_gaussians, lambda: dict(mu_q=torch.randn(B, J), logvar_q=torch.randn(B, J),
                                                            mu_p=torch.randn(B, J), logvar_p=torch.randn(B, J))),
    "source_penalty": (O.source_penalty, lambda: dict(mu=torch.randn(B, J), s=torch.randn(B, J))),
    "kl_logstd_to_standard_normal": (O.kl_logstd_to_standard_normal,
                                     lambda: dict(mu=torch.randn(B, J), log_std=torch.randn(B, J))),
    "bernoulli_log_likelihood": (O.bernoulli_log_likelihood, lambda: dict(x=pixels(), logits=torch.randn(B, D))),
    "gaussian_log_likelihood": (O.gaussian_log_likelihood, lambda: dict(x=pixels(), mean=pixels(), variance=1.0)),
    "negative_elbo": (O.negative_elbo, lambda: dict(x=pixels(), decoder_logits=torch.randn(B, D),
                                                    mu=torch.randn(B, J), logvar=torch.randn(B, J))),
    "source_eq8_loss": (O.source_eq8_loss, lambda: dict(x=pixels(), y=pixels(), mu=torch.randn(B, J),
                                                        logvar=torch.randn(B, J))),
    "logvar_to_std": (P.logvar_to_std, lambda: dict(logvar=torch.randn(B, J))),
    "logvar_to_var": (P.logvar_to_var, lambda: dict(logvar=torch.randn(B, J))),
    "logvar_to_logstd": (P.logvar_to_logstd, lambda: dict(logvar=torch.randn(B, J))),
    "logstd_to_logvar": (P.logstd_to_logvar, lambda: dict(log_std=torch.randn(B, J))),
    "std_to_logvar": (P.std_to_logvar, lambda: dict(std=torch.rand(B, J) + 0.1)),
    "var_to_logvar": (P.var_to_logvar, lambda: dict(var=torch.rand(B, J) + 0.1)),
    "reparameterize": (reparameterize, lambda: dict(mu=torch.randn(B, J), logvar=torch.randn(B, J))),
}
META_CASES = [(f, a) for f, (_, build) in TENSOR_FUNCTIONS.items() for a, v in build().items()
              if isinstance(v, torch.Tensor)]


@pytest.mark.parametrize("fname", TENSOR_FUNCTIONS)
def test_the_good_arguments_are_accepted(fname):
    f, build = TENSOR_FUNCTIONS[fname]
    out = f(**build())
    assert all(torch.isfinite(t).all() for t in (out if isinstance(out, tuple) else (out,)))


@pytest.mark.parametrize("fname,arg", META_CASES)
def test_meta_tensors_are_rejected_with_the_argument_named(fname, arg):
    # before: raw "Tensor.item() cannot be called on meta tensors", or a meta result passed through
    f, build = TENSOR_FUNCTIONS[fname]
    kwargs = build()
    kwargs[arg] = kwargs[arg].to("meta")
    with pytest.raises(ValueError, match=rf"^{arg} is a meta tensor"):
        f(**kwargs)


def test_meta_tensors_are_rejected_by_the_evaluation_functions():
    x = pixels().to("meta")
    for call in (lambda: evaluation.heldout_elbo(tiny_vae(), x),
                 lambda: evaluation.importance_sampled_log_likelihood(tiny_vae(), x, 2),
                 lambda: evaluation.log_importance_weights(tiny_vae(), x, 2),
                 lambda: training.evaluate(tiny_vae(), training.vae_objective(), x)):
        with pytest.raises(ValueError, match="^x is a meta tensor"):
            call()


# --- empty batches ---------------------------------------------------------------------------------


def test_negative_elbo_rejects_an_empty_batch():
    with pytest.raises(ValueError, match=r"^x is empty \(shape \(0, 8\)\)"):
        O.negative_elbo(torch.rand(0, D), torch.randn(0, D), torch.randn(0, J), torch.randn(0, J))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_kls_reject_an_empty_batch(reduction):
    empty = torch.zeros(0, J)
    with pytest.raises(ValueError, match="^mu is empty"):
        O.kl_diag_gaussian_to_standard_normal(empty, empty, reduction=reduction)
    with pytest.raises(ValueError, match="^mu_q is empty"):
        O.kl_diag_gaussians(empty, empty, empty, empty, reduction=reduction)


def test_a_latent_dimension_of_zero_is_empty_too():
    with pytest.raises(ValueError, match=r"^mu is empty \(shape \(3, 0\)\)"):
        O.kl_diag_gaussian_to_standard_normal(torch.zeros(B, 0), torch.zeros(B, 0))


def test_heldout_elbo_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="^x is empty"):
        evaluation.heldout_elbo(tiny_vae(), torch.rand(0, D))


def test_importance_sampled_log_likelihood_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="^x is empty"):
        evaluation.importance_sampled_log_likelihood(tiny_vae(), torch.rand(0, D), 2)


def test_training_evaluate_rejects_an_empty_batch():
    # before: ZeroDivisionError from the mean over zero examples
    with pytest.raises(ValueError, match="^x is empty"):
        training.evaluate(tiny_vae(), training.vae_objective(), torch.rand(0, D))


# --- evaluation sizes: batch_size, k, seed, model, generator -----------------------------------------

BAD_SIZES = [0, -1, 2.5, True, "10", None]


def int_error(value) -> tuple[type, str]:
    """One rule for every integer argument: a wrong type is a TypeError, a wrong value a ValueError."""
    return (ValueError, "must be a positive integer") if type(value) is int else (TypeError, "must be an int, got")


@pytest.mark.parametrize("batch_size", BAD_SIZES)
def test_heldout_elbo_checks_batch_size(batch_size):
    error, message = int_error(batch_size)
    with pytest.raises(error, match=f"^batch_size {message}"):
        evaluation.heldout_elbo(tiny_vae(), pixels(), batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [b for b in BAD_SIZES if b is not None])  # None is the default
def test_importance_sampled_log_likelihood_checks_batch_size(batch_size):
    # before: 0 silently meant "the default" (batch_size or ...), -1 gave an empty torch.cat
    error, message = int_error(batch_size)
    with pytest.raises(error, match=f"^batch_size {message}"):
        evaluation.importance_sampled_log_likelihood(tiny_vae(), pixels(), 2, batch_size=batch_size)


@pytest.mark.parametrize("batch_size", BAD_SIZES)
def test_training_evaluate_checks_batch_size(batch_size):
    error, message = int_error(batch_size)
    with pytest.raises(error, match=f"^batch_size {message}"):
        training.evaluate(tiny_vae(), training.vae_objective(), pixels(), batch_size=batch_size)


@pytest.mark.parametrize("k", [0, -2, 2.0, True, "3", None])
def test_log_importance_weights_checks_k(k):
    # before: a reshape or randn error
    error, message = int_error(k)
    with pytest.raises(error, match=f"^k {message}"):
        evaluation.log_importance_weights(tiny_vae(), pixels(), k)


def test_importance_sampled_log_likelihood_checks_k_as_a_bool_too():
    with pytest.raises(TypeError, match="^k must be an int, got bool"):
        evaluation.importance_sampled_log_likelihood(tiny_vae(), pixels(), True)


@pytest.mark.parametrize("seed,error", [(1.5, TypeError), ("0", TypeError), (None, TypeError),
                                        (2**64, ValueError), (-(2**63) - 1, ValueError)])
def test_the_evaluation_functions_check_seed(seed, error):
    for call in (lambda: evaluation.heldout_elbo(tiny_vae(), pixels(), seed=seed),
                 lambda: evaluation.importance_sampled_log_likelihood(tiny_vae(), pixels(), 2, seed=seed)):
        with pytest.raises(error, match="^seed must"):
            call()


@pytest.mark.parametrize("model", [None, "vae", "autoencoder"])
def test_the_evaluation_functions_need_a_vae(model):
    model = AutoEncoder(ModelConfig(D, 4, J)) if model == "autoencoder" else model
    for call in (lambda: evaluation.heldout_elbo(model, pixels()),
                 lambda: evaluation.log_importance_weights(model, pixels(), 2),
                 lambda: evaluation.importance_sampled_log_likelihood(model, pixels(), 2)):
        with pytest.raises(TypeError, match="^model must be a vae_lib.VAE"):
            call()


def test_log_importance_weights_checks_the_generator():
    with pytest.raises(TypeError, match="^generator must be a torch.Generator or None, got int"):
        evaluation.log_importance_weights(tiny_vae(), pixels(), 2, generator=0)


def test_training_evaluate_checks_model_and_objective():
    with pytest.raises(TypeError, match="^model must be a torch.nn.Module"):
        training.evaluate("model", training.vae_objective(), pixels())
    with pytest.raises(TypeError, match="^objective must be a callable"):
        training.evaluate(tiny_vae(), "elbo", pixels())


# --- objectives.kl_quadrature ------------------------------------------------------------------------


def _std_normal(t):
    return O.normal_log_prob(t, 0.0, 0.0)


def _with(value, index=0):
    def log_density(t):
        out = _std_normal(t).clone()
        out[index] = value
        return out

    return log_density


@pytest.mark.parametrize("which", ["log_p", "log_q"])
@pytest.mark.parametrize("index", [0, 50])  # a NaN where p underflows was dropped from the integral
def test_kl_quadrature_rejects_nan_log_densities(which, index):
    fs = {"log_p": _std_normal, "log_q": _std_normal, which: _with(NAN, index)}
    with pytest.raises(ValueError, match=rf"^{which}\(x\) contains NaN"):
        O.kl_quadrature(fs["log_p"], fs["log_q"], -40.0, 40.0, n_points=101)


def test_kl_quadrature_rejects_plus_inf_but_accepts_minus_inf():
    with pytest.raises(ValueError, match=r"^log_p\(x\) contains NaN or \+inf"):
        O.kl_quadrature(_with(INF, 50), _std_normal, -4.0, 4.0, n_points=101)
    # -inf is a zero density: where p = 0 it contributes nothing, where q = 0 the KL is infinite
    assert torch.isfinite(O.kl_quadrature(_with(-INF, 0), _std_normal, -4.0, 4.0, n_points=101))
    assert O.kl_quadrature(_std_normal, _with(-INF, 50), -4.0, 4.0, n_points=101) == INF


@pytest.mark.parametrize("bad", [lambda t: _std_normal(t)[:-1], lambda t: _std_normal(t).sum(),
                                 lambda t: _std_normal(t)[:, None], lambda t: _std_normal(t).repeat(2)])
def test_kl_quadrature_checks_the_shape_of_the_output(bad):
    with pytest.raises(ValueError, match=r"^log_q\(x\) must have the grid's shape \(101,\)"):
        O.kl_quadrature(_std_normal, bad, -4.0, 4.0, n_points=101)


def test_kl_quadrature_batched_outputs_must_broadcast():
    two = lambda t: _std_normal(t).expand(2, -1)  # noqa: E731
    three = lambda t: _std_normal(t).expand(3, -1)  # noqa: E731
    with pytest.raises(ValueError, match=r"^log_p\(x\) and log_q\(x\) have shapes \(2, 101\) and \(3, 101\)"):
        O.kl_quadrature(two, three, -4.0, 4.0, n_points=101)
    # (G, N) against (N,) is how kl_fits.kl_landscape integrates G Gaussians at once: still accepted
    assert torch.equal(O.kl_quadrature(two, _std_normal, -4.0, 4.0, n_points=101), torch.zeros(2, dtype=F64))


@pytest.mark.parametrize("which", ["log_p", "log_q"])
@pytest.mark.parametrize("bad", [torch.zeros(101, dtype=F64), 0.5, None])
def test_kl_quadrature_needs_callables(which, bad):
    fs = {"log_p": _std_normal, "log_q": _std_normal, which: bad}
    with pytest.raises(TypeError, match=rf"^{which} must be a callable"):
        O.kl_quadrature(fs["log_p"], fs["log_q"], -4.0, 4.0, n_points=101)


def test_kl_quadrature_checks_the_types_of_its_numbers():
    with pytest.raises(TypeError, match="^lower must be a number, got str"):
        O.kl_quadrature(_std_normal, _std_normal, "-4", 4.0)
    with pytest.raises(TypeError, match="^upper must be a number, got NoneType"):
        O.kl_quadrature(_std_normal, _std_normal, -4.0, None)
    with pytest.raises(ValueError, match="^n_points must be an integer >= 3, got True"):
        O.kl_quadrature(_std_normal, _std_normal, -4.0, 4.0, n_points=True)


# --- objectives: the other functions ----------------------------------------------------------------


def test_kl_discrete_checks_dim_and_rank():
    p = torch.full((B, 4), 0.25)
    for dim in (2, -3, 1.0, "last", None):
        with pytest.raises(ValueError, match=r"^dim must be an integer in \[-2, 1\]"):
            O.kl_discrete(p, p, dim=dim)
    with pytest.raises(ValueError, match="^p must have shape"):
        O.kl_discrete(torch.tensor(1.0), torch.tensor(1.0))


def test_kl_monte_carlo_needs_a_sample_dimension():
    with pytest.raises(ValueError, match=r"^log_q must have shape \(S, \.\.\.\)"):
        O.kl_monte_carlo(torch.tensor(1.0), torch.tensor(0.5))


def test_normal_log_prob_checks_broadcasting():
    with pytest.raises(ValueError, match=r"^x, mu and logvar must broadcast together, got shapes \(3, 2\), \(3,\)"):
        O.normal_log_prob(torch.zeros(3, 2), torch.zeros(3), 0.0)


@pytest.mark.parametrize("f", [O.gaussian_log_likelihood, O.bernoulli_log_likelihood])
def test_the_likelihoods_need_a_pixel_dimension(f):
    # before: IndexError from x.shape[-1] in the Gaussian case
    args = (torch.tensor(0.5), torch.tensor(0.5)) + ((1.0,) if f is O.gaussian_log_likelihood else ())
    with pytest.raises(ValueError, match=r"^x must have shape \(B, D\)"):
        f(*args)


@pytest.mark.parametrize("variance", [-1.0, 0.0, INF, NAN])
def test_negative_elbo_checks_variance_even_for_a_bernoulli_likelihood(variance):
    with pytest.raises(ValueError, match="^variance must be a finite positive number"):
        O.negative_elbo(pixels(), torch.randn(B, D), torch.randn(B, J), torch.randn(B, J), variance=variance)


def test_source_eq8_equivalent_variance_rejects_a_bool():
    with pytest.raises(TypeError, match="^n_pixels must be an int, got bool"):
        O.source_eq8_equivalent_variance(True)


# --- objectives.kl_diag_gaussians in half precision -------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mu_q,logvar_q,mu_p,logvar_p", [
    (0.0, -30.0, 0.0, -12.0),  # the user's case: exp(12) overflows float16, 0 * inf = NaN
    (0.01, -30.0, 0.0, -12.0),
    (0.5, -8.0, 0.0, -11.5),  # exp(11.5) overflows float16: the KL came out inf, 24708 is right
    (0.0, 0.0, 0.0, 0.0),
])
def test_kl_diag_gaussians_in_half_precision_is_finite_and_close_to_float64(dtype, mu_q, logvar_q, mu_p, logvar_p):
    args = [torch.tensor([[v, v]], dtype=dtype) for v in (mu_q, logvar_q, mu_p, logvar_p)]
    half = O.kl_diag_gaussians(*args, reduction="none")
    exact = O.kl_diag_gaussians(*(a.double() for a in args), reduction="none")  # the same rounded inputs
    assert half.dtype == dtype and torch.isfinite(half).all()
    torch.testing.assert_close(half.double(), exact, rtol=1e-2 if dtype == torch.bfloat16 else 1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_diag_gaussians_computes_float32_and_float64_as_before(dtype):
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(5, 4, generator=g, dtype=dtype) for _ in range(4))
    before = 0.5 * (lp - lq + (lq - lp).exp() + (mq - mp).pow(2) * (-lp).exp() - 1.0).sum(-1)  # op for op
    assert torch.equal(O.kl_diag_gaussians(mq, lq, mp, lp, reduction="none"), before)
    assert torch.equal(O.kl_diag_gaussians(mq, lq, mp, lp), before.mean())


# --- models.reparameterize ---------------------------------------------------------------------------


@pytest.mark.parametrize("arg", ["mu", "logvar"])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_reparameterize_rejects_non_finite_values(arg, bad):
    # before: NaN samples for a NaN logvar
    kwargs = dict(mu=torch.zeros(B, J), logvar=torch.zeros(B, J))
    kwargs[arg][1, 0] = bad
    with pytest.raises(ValueError, match=f"^{arg} contains NaN or inf"):
        reparameterize(**kwargs)


def test_reparameterize_checks_shapes_types_and_dtypes():
    with pytest.raises(ValueError, match=r"^logvar has shape \(3, 3\) but mu has shape \(3, 2\)"):
        reparameterize(torch.zeros(B, J), torch.zeros(B, J + 1))
    with pytest.raises(TypeError, match="^mu must be a torch.Tensor, got list"):
        reparameterize([0.0, 0.0], torch.zeros(2))
    with pytest.raises(TypeError, match="^logvar must be a torch.Tensor, got list"):
        reparameterize(torch.zeros(2), [0.0, 0.0])
    with pytest.raises(TypeError, match="^mu must have a floating-point dtype"):
        reparameterize(torch.zeros(2, dtype=torch.long), torch.zeros(2))
    with pytest.raises(TypeError, match="^logvar has dtype torch.float64 but mu has dtype torch.float32"):
        reparameterize(torch.zeros(2), torch.zeros(2, dtype=F64))
    with pytest.raises(TypeError, match="^generator must be a torch.Generator or None, got int"):
        reparameterize(torch.zeros(2), torch.zeros(2), generator=0)


def test_reparameterize_keeps_its_numbers():
    mu, logvar = torch.randn(B, J), torch.randn(B, J)
    eps = torch.randn(B, J, generator=torch.Generator().manual_seed(7))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    assert torch.equal(z, mu + torch.exp(0.5 * logvar) * eps)


# --- models: configuration and sampling --------------------------------------------------------------


def test_model_config_and_sample_reject_bools():
    with pytest.raises(TypeError, match="^latent_dim must be an int, got bool"):
        ModelConfig(latent_dim=True)
    with pytest.raises(TypeError, match="^n must be an int, got bool"):
        tiny_vae().sample(True)
    with pytest.raises(TypeError, match="^generator must be a torch.Generator"):
        tiny_vae().sample(2, generator="seed")


# --- live.LiveExplorer and live.Slider -----------------------------------------------------------------


@pytest.mark.parametrize("kwargs,error,match", [
    ({"key": "a b"}, ValueError, "^key must be an identifier"),
    ({"label": ""}, TypeError, "^label must be a non-empty str"),
    ({"lo": NAN}, ValueError, "^lo must be a finite number"),
    ({"hi": INF}, ValueError, "^hi must be a finite number"),
    ({"lo": "0"}, TypeError, "^lo must be a number"),
    ({"lo": 2.0}, ValueError, "^slider 's': lo must be below hi, got lo=2, hi=1"),
    ({"value": 3.0}, ValueError, r"^slider 's': value must lie in \[lo, hi\] = \[-1, 1\], got 3"),
    ({"log": True}, ValueError, "^slider 's': a log slider needs lo > 0, got -1"),
    ({"ticks": (0.0, 5.0)}, ValueError, r"^slider 's': ticks must lie in \[-1, 1\], got \[5.0\]"),
    ({"ticks": (0.0,), "tick_labels": ("a", "b")}, ValueError, r"^slider 's': tick_labels must name every tick \(1\)"),
    ({"digits": -1}, ValueError, "^slider 's': digits must be a non-negative int or None"),
    ({"stops": (0.0, NAN)}, ValueError, "^stops must be a finite number"),
    ({"stops": (0.0, 2.0)}, ValueError, r"^slider 's': stops must lie in \[-1, 1\], got \[2.0\]"),
    ({"stops": (-0.5, 0.5)}, ValueError, r"^slider 's': value must be one of the stops \[-0.5, 0.5\], got 0"),
])
def test_slider_names_what_is_wrong(kwargs, error, match):
    args = {"key": "s", "label": "s", "lo": -1.0, "hi": 1.0, "value": 0.0, **kwargs}
    with pytest.raises(error, match=match):
        live.Slider(**args)


def test_live_explorer_validates_name_kind_sliders_data_and_description():
    s = live.Slider("s", "s", 0.0, 1.0, 0.5)
    ok = {"description": "what it shows"}
    with pytest.raises(ValueError, match="^name must be lowercase-hyphen"):
        live.LiveExplorer("Bad Name", "kl-gaussians", [s], {}, **ok)
    with pytest.raises(ValueError, match="^kind must be one of"):
        live.LiveExplorer("x", "histogram", [s], {}, **ok)
    with pytest.raises(TypeError, match="^sliders must be a non-empty list of Slider"):
        live.LiveExplorer("x", "kl-gaussians", [], {}, **ok)
    with pytest.raises(ValueError, match=r"^sliders repeat a key: \['s', 's'\]"):
        live.LiveExplorer("x", "kl-gaussians", [s, s], {}, **ok)
    with pytest.raises(ValueError, match="^description must say what the figure shows"):
        live.LiveExplorer("x", "kl-gaussians", [s], {}, description=" ")
    with pytest.raises(TypeError, match="^data must be a dict, got list"):
        live.LiveExplorer("x", "kl-gaussians", [s], [], **ok)
    with pytest.raises(ValueError, match=r"must be finite \(the page reads JSON"):
        live.LiveExplorer("x", "kl-gaussians", [s], {"y_max": NAN}, **ok)


def test_seeded_noise_and_export_name_their_arguments():
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 2\*\*32\)"):
        live.seeded_uniform(3, -1)
    with pytest.raises(ValueError, match="^dim must be a positive integer"):
        live.seeded_normal(3, 0, 0)
    with pytest.raises(TypeError, match="^mlp must be an nn.Sequential"):
        live.export_mlp(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="^mlp layer 1 is Tanh; only ReLU may follow a Linear"):
        live.export_mlp(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="^output must be 'sigmoid' or 'identity'"):
        live.export_mlp(torch.nn.Sequential(torch.nn.Linear(2, 2)), output="tanh")
    bad = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with torch.no_grad():
        bad[0].weight[0, 0] = NAN
    with pytest.raises(ValueError, match="^mlp layer 0 has non-finite weights"):
        live.export_mlp(bad)
    exported = live.export_mlp(torch.nn.Sequential(torch.nn.Linear(2, 3)))
    with pytest.raises(ValueError, match="^layer 0 takes 2 inputs, got z with 4"):
        live.exported_forward(exported, torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"^z must be a tensor of shape \(B, J\)"):
        live.exported_forward(exported, torch.zeros(2))


# --- plotting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("nrow", [0, -3, 2.5, True, "10"])
def test_image_grid_checks_nrow(nrow):
    # before: ZeroDivisionError for nrow=0
    error, message = int_error(nrow)
    with pytest.raises(error, match=f"^nrow {message}"):
        plotting.image_grid(torch.rand(4, 784), nrow=nrow)


def test_image_grid_latent_scatter_and_loss_curves_check_their_inputs():
    with pytest.raises(TypeError, match="^images must be a torch.Tensor"):
        plotting.image_grid([[0.0] * 784])
    with pytest.raises(ValueError, match=r"^z must have shape \(N, J\) with J >= 2"):
        plotting.latent_scatter(torch.zeros(5, 1), torch.zeros(5))
    with pytest.raises(ValueError, match=r"^labels must be a tensor of shape \(5,\)"):
        plotting.latent_scatter(torch.zeros(5, 2), [0] * 5)
    with pytest.raises(TypeError, match="^history must be a vae_lib.training.History"):
        plotting.loss_curves({"train/loss": [1.0]})
    with pytest.raises(ValueError, match=r"^keys \['heldout/loss'\] are not in the history"):
        plotting.loss_curves(training.History({"train/loss": [1.0]}), ["heldout/loss"])
    plt.close("all")


# --- argument names in messages: the caller's, never an internal tensor's ---------------------------


def test_book_setup_names_device(monkeypatch):
    # before: "preference must be one of ..."; seeds and threads are left alone here
    monkeypatch.setattr(book, "seed_everything", lambda seed: None)
    monkeypatch.setattr(book, "set_threads", lambda: None)
    with matplotlib.rc_context():
        with pytest.raises(ValueError, match=r"^device must be one of \('auto', 'cuda', 'mps', 'cpu'\), got 'tpu'"):
            book.setup(device="tpu")
        assert book.setup(device="cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_choose_device_refuses_a_device_that_is_not_there():
    # before: torch.device("cuda") was returned, and the first tensor moved there failed
    with pytest.raises(ValueError, match="^device='cuda' is not available on this machine"):
        runtime.choose_device("cuda")


@pytest.mark.parametrize("kwargs,name", [({"mu_max": INF}, "mu_max"), ({"logvar_min": -INF}, "logvar_min"),
                                         ({"logvar_max": NAN}, "logvar_max")])
def test_kl_per_unit_grid_names_its_bounds(kwargs, name):
    # before: "mu contains NaN or inf values", about a tensor the caller never passed
    with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
        closed_form_kl.kl_per_unit_grid(n=5, **kwargs)


def test_gaussian_cross_entropy_term_names_mu_p_and_logvar_p():
    z = torch.zeros(3, dtype=F64)
    with pytest.raises(ValueError, match="^mu_p contains NaN"):
        closed_form_kl.gaussian_cross_entropy_term(z, z, torch.full((3,), NAN, dtype=F64), z)
    with pytest.raises(ValueError, match="^mu_p and logvar_p must share one shape"):
        closed_form_kl.gaussian_cross_entropy_term(z, z, z, torch.zeros(4, dtype=F64))


def test_kl_explorer_names_its_numbers():
    with pytest.raises(ValueError, match="^y_max must be a finite number"):
        closed_form_kl.kl_explorer(y_max=INF)
    with pytest.raises(ValueError, match="^y_max must be > 0"):
        closed_form_kl.kl_explorer(y_max=0.0)


@pytest.mark.parametrize("kwargs,name", [({"s_min": -INF}, "s_min"), ({"s_max": NAN}, "s_max"),
                                         ({"mu": INF}, "mu"), ({"mu": "0"}, "mu")])
def test_penalty_figure_names_its_numbers(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=f"^{name} must be a (finite )?number"):
        encoder_gaussian.penalty_figure(**kwargs)


def test_sample_cloud_explorer_names_its_arguments():
    with pytest.raises(ValueError, match="^mu_2 must be a finite number"):
        encoder_gaussian.sample_cloud_explorer(mu_2=INF)
    with pytest.raises(ValueError, match="^n must be a positive integer"):
        encoder_gaussian.sample_cloud_explorer(n=0)
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 2\*\*32\)"):
        encoder_gaussian.sample_cloud_explorer(seed=2**32)


def test_plane_explorer_checks_its_arguments():
    torch.manual_seed(0)
    ae = AutoEncoder(ModelConfig(784, 8, 3))
    codes = latent.encode_codes(ae, torch.rand(20, 784))
    plane, labels = code_plane.principal_plane(codes), torch.arange(20) % 10
    with pytest.raises(ValueError, match=r"^labels must have shape \(20,\), got list"):
        code_plane.plane_explorer("p", ae, plane, codes, labels.tolist())
    with pytest.raises(TypeError, match="^plane must be a CodePlane"):
        code_plane.plane_explorer("p", ae, (0, 1), codes, labels)
    with pytest.raises(ValueError, match="^max_points must be a positive integer"):
        code_plane.plane_explorer("p", ae, plane, codes, labels, max_points=0)
    with pytest.raises(ValueError, match="^grid_limit must be > 0"):
        code_plane.plane_explorer("p", ae, plane, codes, labels, grid_limit=-1.0)
    with pytest.raises(ValueError, match="^limit must be a finite number"):
        code_plane.plane_explorer("p", ae, plane, codes, labels, limit=NAN)
    with pytest.raises(ValueError, match="^explorer must be a latent-plane explorer"):
        code_plane.exported_plane_codes(closed_form_kl.kl_explorer(), torch.zeros(1), torch.zeros(1))


def test_latent_checks_batch_sizes_generators_and_flags():
    torch.manual_seed(0)
    ae, vae = AutoEncoder(ModelConfig(D, 4, J)), tiny_vae()
    with pytest.raises(ValueError, match="^batch_size must be a positive integer"):
        latent.encode_codes(ae, pixels(), batch_size=0)
    with pytest.raises(ValueError, match="^batch_size must be a positive integer"):
        latent.decode_images(ae, torch.zeros(B, J), batch_size=-1)
    with pytest.raises(ValueError, match="^batch_size must be a positive integer"):
        latent.nearest_distances(torch.zeros(B, J), torch.zeros(B, J), batch_size=0)
    with pytest.raises(TypeError, match="^sample must be a bool"):
        latent.encode_codes(vae, pixels(), sample="yes")
    with pytest.raises(TypeError, match="^generator must be a torch.Generator"):
        latent.random_codes(2, torch.zeros(B, J), generator=1)
    with pytest.raises(TypeError, match="^mass must be a number"):
        latent.prior_radius(2, "most")
    with pytest.raises(TypeError, match="^make_model must be a callable"):
        latent.fit_on_subsets(None, training.ae_objective(), pixels(), {"all": torch.ones(B, dtype=torch.bool)},
                              epochs=1)
    with pytest.raises(ValueError, match=r"^masks\['all'\] must be a boolean tensor"):
        latent.fit_on_subsets(lambda: AutoEncoder(ModelConfig(D, 4, J)), training.ae_objective(), pixels(),
                              {"all": [True] * B}, epochs=1)


def test_decoder_disagreement_names_model_a_and_model_b():
    ae = AutoEncoder(ModelConfig(D, 4, J))
    with pytest.raises(TypeError, match="^model_b must be a vae_lib AutoEncoder or VAE"):
        latent.decoder_disagreement(ae, "other", torch.zeros(B, J))
    other = AutoEncoder(ModelConfig(D, 4, J + 1))
    with pytest.raises(ValueError, match=r"^z must have shape \(N, 3\) for model_b"):
        latent.decoder_disagreement(ae, other, torch.zeros(B, J))


def test_diagnostics_names_eigenvalue_and_sample():
    with pytest.raises(TypeError, match="^eigenvalue must be a number, got 'big'"):
        diagnostics.ppca_gain(torch.ones(2, dtype=F64), "big", 1.0)
    with pytest.raises(TypeError, match="^sample must be a bool"):
        diagnostics.reconstruct(tiny_vae(), pixels(), sample=1)


def test_kl_fits_names_the_start_and_checks_the_mixture():
    target = kl_fits.GaussianMixture1D(weights=(0.5, 0.5), means=(-1.0, 1.0), stds=(0.5, 0.5))
    with pytest.raises(ValueError, match="^mu0 must be a finite number"):  # before: "mu contains NaN"
        kl_fits.fit_gaussian(target, "reverse", NAN, 0.0, steps=1)
    with pytest.raises(TypeError, match="^logvar0 must be a number"):
        kl_fits.fit_gaussian(target, "reverse", 0.0, "wide", steps=1)
    with pytest.raises(TypeError, match="^weights must be a tuple of numbers"):
        kl_fits.GaussianMixture1D(weights="ab", means=(0.0, 1.0), stds=(1.0, 1.0))
    with pytest.raises(TypeError, match="^generator must be a torch.Generator"):
        target.sample(3, generator=3)


def test_gradients_name_their_arguments():
    z = torch.zeros(2, dtype=F64)
    with pytest.raises(TypeError, match="^log_likelihood must be a callable"):
        gradients.ascend_elbo(torch.zeros(2), z, z, estimator="reparameterised", steps=1, lr=0.1, n_samples=2)
    with pytest.raises(TypeError, match="^mu must be a torch.Tensor, got list"):
        gradients.quadratic_expectation([0.0, 0.0], z, z)
    with pytest.raises(TypeError, match="^logvar must be a torch.Tensor, got list"):
        gradients.diag_gaussian_score(torch.zeros(3, 2, dtype=F64), z, [0.0, 0.0])


def test_linear_gaussian_and_bayes_rewrite_check_their_arguments():
    with pytest.raises(TypeError, match="^latent_dim must be an int, got bool"):
        linear_gaussian.LinearGaussian.random(True, 3, 1.0)
    model = linear_gaussian.LinearGaussian.random(2, 3, 1.0, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="^generator must be a torch.Generator"):
        model.sample(2, generator="g")
    x, mean, cov = torch.zeros(3, dtype=F64), torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64)
    with pytest.raises(TypeError, match="^model must be a vae_lib.chapters.linear_gaussian.LinearGaussian"):
        bayes_rewrite.rewrite_chain_closed_form("model", x, mean, cov)
    with pytest.raises(TypeError, match="^nodes must be a torch.Tensor"):
        bayes_rewrite.rewrite_chain_contributions(model, x, mean, cov, [[0.0, 0.0]], torch.ones(1, dtype=F64))


@pytest.mark.parametrize("lr,error", [(-1.0, ValueError), (0.0, ValueError), (NAN, ValueError), ("fast", TypeError)])
def test_bench_run_checks_lr(lr, error):
    # before: Adam's "Invalid learning rate", after the data had been loaded
    with pytest.raises(error, match="^lr must be a"):
        bench.run(lr=lr)


# --- Hypothesis: random bad input to every public function of four modules ---------------------------
#
# Each argument has a kind, and each kind a set of bad values; a call with one argument
# replaced by a bad value must raise ValueError or TypeError naming that argument.

@functools.cache
def _model() -> VAE:
    return tiny_vae()


def _log_q(t):
    return O.normal_log_prob(t, 0.5, 0.2)


# name -> (function, builder of good keyword arguments, {argument: kind})
SPECS = {
    "normal_log_prob": (O.normal_log_prob, TENSOR_FUNCTIONS["normal_log_prob"][1],
                        {"x": "tensor", "mu": "tensor", "logvar": "tensor"}),
    "kl_discrete": (O.kl_discrete, lambda: dict(p=torch.full((B, 4), 0.25), q=torch.full((B, 4), 0.25), dim=-1),
                    {"p": "probs", "q": "probs", "dim": "dim"}),
    "kl_quadrature": (O.kl_quadrature,
                      lambda: dict(log_p=_std_normal, log_q=_log_q, lower=-8.0, upper=8.0, n_points=101),
                      {"log_p": "callable", "log_q": "callable", "lower": "bound", "upper": "bound",
                       "n_points": "n_points"}),
    "kl_monte_carlo": (O.kl_monte_carlo, TENSOR_FUNCTIONS["kl_monte_carlo"][1],
                       {"log_q": "typed", "log_p": "typed"}),
    "mc_estimate": (O.mc_estimate, TENSOR_FUNCTIONS["mc_estimate"][1], {"values": "values"}),
    "kl_diag_gaussian_to_standard_normal": (
        O.kl_diag_gaussian_to_standard_normal, lambda: dict(mu=torch.randn(B, J), logvar=torch.randn(B, J),
                                                            reduction="mean"),
        {"mu": "typed", "logvar": "typed", "reduction": "reduction"}),
    "kl_diag_gaussians": (O.kl_diag_gaussians, lambda: dict(**TENSOR_FUNCTIONS["kl_diag_gaussians"][1](),
                                                            reduction="sum"),
                          {"mu_q": "typed", "logvar_q": "typed", "mu_p": "typed", "logvar_p": "typed",
                           "reduction": "reduction"}),
    "source_penalty": (O.source_penalty, TENSOR_FUNCTIONS["source_penalty"][1],
                       {"mu": "typed", "s": "typed"}),
    "kl_logstd_to_standard_normal": (O.kl_logstd_to_standard_normal,
                                     TENSOR_FUNCTIONS["kl_logstd_to_standard_normal"][1],
                                     {"mu": "typed", "log_std": "typed"}),
    "bernoulli_log_likelihood": (O.bernoulli_log_likelihood,
                                 lambda: dict(x=pixels(), logits=torch.randn(B, D), reduction="none"),
                                 {"x": "pixels", "logits": "typed", "reduction": "reduction"}),
    "continuous_bernoulli_log_likelihood": (O.continuous_bernoulli_log_likelihood,
                                            lambda: dict(x=pixels(), logits=torch.randn(B, D), reduction="sum"),
                                            {"x": "pixels", "logits": "typed", "reduction": "reduction"}),
    "log_likelihood": (O.log_likelihood,
                       lambda: dict(x=pixels(), decoder_logits=torch.randn(B, D), likelihood="gaussian", variance=0.5),
                       {"x": "typed", "decoder_logits": "typed", "likelihood": "likelihood", "variance": "positive"}),  # gaussian: any real x
    "gaussian_log_likelihood": (O.gaussian_log_likelihood,
                                lambda: dict(x=pixels(), mean=pixels(), variance=0.5, reduction="mean"),
                                {"x": "typed", "mean": "typed", "variance": "positive", "reduction": "reduction"}),
    "negative_elbo": (O.negative_elbo,
                      lambda: dict(**TENSOR_FUNCTIONS["negative_elbo"][1](), likelihood="bernoulli", variance=1.0,
                                   beta=1.0, reduction="mean"),
                      {"x": "pixels", "decoder_logits": "typed", "mu": "typed", "logvar": "typed",
                       "likelihood": "likelihood", "variance": "positive", "beta": "nonnegative",
                       "reduction": "reduction"}),
    "source_eq8_loss": (O.source_eq8_loss, lambda: dict(**TENSOR_FUNCTIONS["source_eq8_loss"][1](), reduction="sum",
                                                        beta=0.5),
                        {"x": "typed", "y": "typed", "mu": "typed", "logvar": "typed", "reduction": "reduction",
                         "beta": "nonnegative"}),
    "source_eq8_equivalent_variance": (O.source_eq8_equivalent_variance, lambda: dict(n_pixels=784),
                                       {"n_pixels": "size"}),
    "logvar_to_std": (P.logvar_to_std, TENSOR_FUNCTIONS["logvar_to_std"][1], {"logvar": "values"}),
    "logvar_to_var": (P.logvar_to_var, TENSOR_FUNCTIONS["logvar_to_var"][1], {"logvar": "values"}),
    "logvar_to_logstd": (P.logvar_to_logstd, TENSOR_FUNCTIONS["logvar_to_logstd"][1], {"logvar": "values"}),
    "logstd_to_logvar": (P.logstd_to_logvar, TENSOR_FUNCTIONS["logstd_to_logvar"][1], {"log_std": "values"}),
    "std_to_logvar": (P.std_to_logvar, TENSOR_FUNCTIONS["std_to_logvar"][1], {"std": "scale"}),
    "var_to_logvar": (P.var_to_logvar, TENSOR_FUNCTIONS["var_to_logvar"][1], {"var": "scale"}),
    "reparameterize": (reparameterize, lambda: dict(mu=torch.randn(B, J), logvar=torch.randn(B, J), generator=None),
                       {"mu": "typed", "logvar": "typed", "generator": "generator"}),
    "heldout_elbo": (evaluation.heldout_elbo, lambda: dict(model=_model(), x=pixels(), batch_size=2, seed=0,
                                                           likelihood="bernoulli", variance=0.5),  # x in [0, 1]
                     {"model": "model", "x": "images", "batch_size": "size", "seed": "seed",
                      "likelihood": "likelihood", "variance": "positive"}),
    "log_importance_weights": (evaluation.log_importance_weights,
                               lambda: dict(model=_model(), x=pixels(), k=2, generator=None,
                                            likelihood="continuous_bernoulli", variance=1.0),
                               {"model": "model", "x": "images", "k": "size", "generator": "generator",
                                "likelihood": "likelihood", "variance": "positive"}),
    "log_mean_exp": (evaluation.log_mean_exp, lambda: dict(logw=torch.randn(3, B)), {"logw": "values"}),
    "kl_units": (O.kl_units, lambda: dict(mu=torch.randn(B, J), logvar=torch.randn(B, J)),
                 {"mu": "typed", "logvar": "typed"}),
    "importance_sampled_log_likelihood": (
        evaluation.importance_sampled_log_likelihood,
        lambda: dict(model=_model(), x=pixels(), k=2, batch_size=2, seed=0, likelihood="bernoulli", variance=2.0),
        {"model": "model", "x": "images", "k": "size", "batch_size": "optional_size", "seed": "seed",
         "likelihood": "likelihood", "variance": "positive"}),
}

# tensor kinds -> which bad-value families apply: "shape" (dims that may grow), "dtype" (must match
# the other tensors), and extra families of values out of range
TENSOR_KINDS = {
    "values": dict(dims=(), dtype=False, extra=()),  # elementwise, any shape
    "tensor": dict(dims=(0, 1), dtype=False, extra=()),  # broadcast: float64 next to float32 is fine
    "typed": dict(dims=(0, 1), dtype=True, extra=()),
    "probs": dict(dims=(0, 1), dtype=True, extra=("negative", "unnormalised")),
    "pixels": dict(dims=(0, 1), dtype=True, extra=("out_of_unit",)),
    "images": dict(dims=(1,), dtype=True, extra=("out_of_unit",)),  # any number of rows, D columns
    "scale": dict(dims=(), dtype=False, extra=("negative", "zero")),
}

_not_numbers = st.one_of(st.text(max_size=3), st.none(), st.booleans(), st.just(torch.tensor(1.0)), st.just([1]))
BAD_VALUES = {
    "size": st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), _not_numbers),
    "optional_size": st.one_of(st.integers(max_value=0), st.floats(allow_nan=True),
                               _not_numbers.filter(lambda v: v is not None)),  # None: the default
    "n_points": st.one_of(st.integers(max_value=2), st.floats(allow_nan=True), _not_numbers),
    "seed": st.one_of(st.integers(min_value=2**64), st.integers(max_value=-(2**63) - 1), st.floats(), _not_numbers),
    "positive": st.one_of(st.floats(max_value=0.0), st.sampled_from([NAN, INF]), _not_numbers),
    "nonnegative": st.one_of(st.floats(max_value=-1e-300), st.sampled_from([NAN, INF]), _not_numbers),
    "bound": st.one_of(st.sampled_from([NAN, INF, -INF]), _not_numbers),
    "reduction": st.one_of(st.text(max_size=5).filter(lambda s: s not in ("none", "mean", "sum")), st.none(),
                           st.integers()),
    "likelihood": st.one_of(st.text(max_size=5), st.none(), st.integers()),
    "dim": st.one_of(st.integers(min_value=2), st.integers(max_value=-3), st.floats(), _not_numbers),
    "model": st.sampled_from([lambda: None, lambda: "vae", lambda: 3, lambda: torch.nn.Linear(D, J),
                              lambda: AutoEncoder(ModelConfig(D, 4, J))]).map(lambda make: make()),
    "generator": st.sampled_from([0, "seed", 1.5, torch.tensor(0)]),
}


def _bad_tensor(data, good: torch.Tensor, kind: str):
    spec = TENSOR_KINDS[kind]
    families = ["nan", "inf", "-inf", "int", "list", "ndarray", "empty", "meta", *spec["extra"]]
    families += ["shape"] * bool(spec["dims"]) + ["float64"] * spec["dtype"]
    family = data.draw(st.sampled_from(families), label="family")
    index = data.draw(st.integers(0, good.numel() - 1), label="index")
    t = good.clone()
    if family in ("nan", "inf", "-inf", "negative", "zero", "out_of_unit"):
        t.view(-1)[index] = {"nan": NAN, "inf": INF, "-inf": -INF, "negative": -0.5, "zero": 0.0,
                             "out_of_unit": data.draw(st.sampled_from([-0.1, 1.5]))}[family]
        return t
    if family == "unnormalised":
        return t * 1.5
    if family == "int":
        return t.round().to(data.draw(st.sampled_from([torch.int64, torch.int32, torch.uint8, torch.bool])))
    if family == "list":
        return t.tolist()
    if family == "ndarray":
        return t.numpy()
    if family == "meta":
        return t.to("meta")
    if family == "float64":
        return t.double()
    shape = list(good.shape)
    if family == "empty":
        shape[data.draw(st.integers(0, len(shape) - 1))] = 0
        return torch.empty(shape)
    dim = data.draw(st.sampled_from(spec["dims"]))  # "shape": one dimension grows
    shape[dim] += data.draw(st.integers(1, 3))
    return torch.rand(shape)


def _bad_callable(data):
    family = data.draw(st.sampled_from(["tensor", "number", "nan", "+inf", "short", "scalar", "column", "int",
                                        "list"]), label="family")
    if family == "tensor":
        return torch.zeros(101, dtype=F64)
    if family == "number":
        return 0.0
    if family in ("nan", "+inf"):
        return _with(NAN if family == "nan" else INF, data.draw(st.integers(0, 100)))
    return {"short": lambda t: _std_normal(t)[:-1], "scalar": lambda t: _std_normal(t).sum(),
            "column": lambda t: _std_normal(t)[:, None], "int": lambda t: _std_normal(t).long(),
            "list": lambda t: _std_normal(t).tolist()}[family]


def _bad_value(data, kind: str, good):
    if kind in TENSOR_KINDS:
        return _bad_tensor(data, good, kind)
    if kind == "callable":
        return _bad_callable(data)
    return data.draw(BAD_VALUES[kind], label="value")


def _public_functions(module) -> set[str]:
    return {name for name, f in inspect.getmembers(module, inspect.isfunction)
            if not name.startswith("_") and f.__module__ == module.__name__}


def test_the_specs_cover_every_public_function():
    wanted = (_public_functions(O) | _public_functions(divergences) | _public_functions(P)
              | _public_functions(evaluation) | {"reparameterize"})
    assert wanted == set(SPECS)
    for name, (f, build, kinds) in SPECS.items():
        assert set(kinds) == set(build()) == set(inspect.signature(f).parameters), name  # every argument
        f(**build())  # and the good arguments are good


@pytest.mark.parametrize("fname", SPECS)
@settings(max_examples=30, deadline=None, database=None)
@given(data=st.data())
def test_random_bad_input_is_rejected_with_the_argument_named(fname, data):
    f, build, kinds = SPECS[fname]
    kwargs = build()
    arg = data.draw(st.sampled_from(sorted(kinds)), label="argument")
    kwargs[arg] = _bad_value(data, kinds[arg], kwargs[arg])
    if arg in ("lower", "upper") and data.draw(st.booleans(), label="swap"):
        kwargs["lower"], kwargs["upper"] = 8.0, -8.0  # finite but in the wrong order
    with pytest.raises((ValueError, TypeError)) as info:
        f(**kwargs)
    # the argument's own name as a word: "mu" must not be found inside "mu_p"
    names = ("lower", "upper") if arg in ("lower", "upper") else (arg,)
    assert any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", str(info.value)) for n in names), \
        f"{fname}({arg}=...): {type(info.value).__name__}: {info.value}"


# --- Issue 19's independent check: the calls that passed silently or failed unclearly -------------------


def _channel(**change):
    F = torch.float64
    parts = dict(cov_x=torch.eye(4, dtype=F), A=torch.zeros(2, 4, dtype=F), logvar=torch.zeros(2, dtype=F),
                 W=torch.zeros(4, 2, dtype=F), b=torch.zeros(4, dtype=F), s2=1.0) | change
    return gaussian_channel.GaussianChannel(**parts)


@pytest.mark.parametrize("call, error, match", [
    (lambda: live.Slider("a", "a", 1, 2, 1.5, log="no"), TypeError, "^log must be a bool, got str"),
    (lambda: live.Slider("a", "a", 1, 2, 1.5, ticks=None), TypeError, "^ticks must be a tuple of numbers, got NoneType"),
    (lambda: live.Slider("a", "a", 1, 2, 1.5, stops=3), TypeError, "^stops must be a tuple"),
    (lambda: live.decade_ticks(10, 1), ValueError, "^lo must be below hi, got lo=10, hi=1"),
    (lambda: live.decade_ticks(0, 10), ValueError, "^lo must be a finite positive number, got 0"),
    (lambda: live.LiveExplorer("a", live.KINDS[0], [live.Slider("a", "a", 1, 2, 1.5)], {"y_max": NAN},
                               description="x"), ValueError, r"^data\['y_max'\] must be finite"),
    (lambda: live.LiveExplorer("a", live.KINDS[0], [live.Slider("a", "a", 1, 2, 1.5)], {"w": [1.0, INF]},
                               description="x"), ValueError, r"^data\['w'\]\[1\] must be finite"),
    (lambda: live.LiveExplorer("a", live.KINDS[0], [live.Slider("a", "a", 1, 2, 1.5)], {"t": torch.ones(2)},
                               description="x"), TypeError, r"^data\['t'\] must be JSON"),
    (lambda: _channel(cov_x=-torch.eye(4, dtype=torch.float64)), ValueError, "^cov_x must be a symmetric positive-definite"),
    (lambda: _channel(s2=-1.0), ValueError, "^s2 must be a finite positive number"),
    (lambda: _channel(A=torch.zeros(3, 4, dtype=torch.float64)), ValueError, r"^A must have shape \(2, 4\)"),
    (lambda: diagnostics.spectrum_explorer(torch.rand(784), {}, s2_range=(0, 10.0)), ValueError,
     r"^s2_range must lie above 0"),
    (lambda: diagnostics.spectrum_explorer(torch.rand(784), {}, s2_range=(2.0, 10.0)), ValueError,
     "^s2_range must contain 1"),
    (lambda: closed_form_kl.kl_explorer(logvar_range=(-3, INF)), ValueError, r"^logvar_range\[1\] must be a finite"),
    (lambda: closed_form_kl.kl_explorer(mu_range=(2, -2)), ValueError, "^mu_range must have lo < hi"),
    (lambda: closed_form_kl.kl_explorer(mu_range=(1, 2, 3)), TypeError, r"^mu_range must be a pair"),
    (lambda: closed_form_kl.kl_explorer(mu_range=(1, 2)), ValueError, "^mu_range must contain 0"),
])
def test_issue_19_bad_calls_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_gap_explorer_says_it_needs_two_units():
    model = linear_gaussian.LinearGaussian.random(3, 5, 1.0, generator=torch.Generator().manual_seed(0))
    z = torch.zeros(3, dtype=F64)
    with pytest.raises(ValueError, match="needs J = 2 latent units, got"):
        bayes_rewrite.gap_explorer(model, torch.zeros(5, dtype=F64), z, z)
