"""Bad input gets a ValueError or TypeError whose message names the argument (vae_lib 0.3).

The first section is one table of the public API of ``objectives``, ``divergences``,
``params``, ``evaluation``, ``models.reparameterize`` and ``training.evaluate``: each
function's good arguments and each argument's kind, then the bad values of every kind.
Both the unit tests (every bad value of a kind, for every argument of that kind) and the
Hypothesis property test (random bad values) read it. The later sections, one per module,
hold the cases a table cannot say: messages that name shapes, pairs of arguments, the
models, the chapters' helpers and the book's explorers. Each test fails if its check is
removed: the raw error that escapes instead is another type, or its message names no argument.
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

from vae_lib import _checks, book, divergences, evaluation, plotting, runtime, training
from vae_lib import objectives as O
from vae_lib import params as P
from vae_lib.book import live, noise
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


@functools.cache
def _model() -> VAE:
    return tiny_vae()


def pixels(n: int = B) -> torch.Tensor:
    return torch.rand(n, D)


def _std_normal(t):
    return O.normal_log_prob(t, 0.0, 0.0)


def _log_q(t):
    return O.normal_log_prob(t, 0.5, 0.2)


def _with(value, index=0):
    """The standard normal log density, with ``value`` at grid point ``index``."""
    def log_density(t):
        out = _std_normal(t).clone()
        out[index] = value
        return out

    return log_density


# === The table: every public function, its good arguments and the kind of each ===================

# name -> (function, builder of good keyword arguments, {argument: kind}); float32 tensors of small shapes
SPECS = {
    "normal_log_prob": (O.normal_log_prob, lambda: dict(x=torch.randn(B, J), mu=torch.randn(B, J),
                                                        logvar=torch.randn(B, J)),
                        {"x": "tensor", "mu": "number_or_tensor", "logvar": "number_or_tensor"}),
    "kl_discrete": (divergences.kl_discrete, lambda: dict(p=torch.full((B, 4), 0.25), q=torch.full((B, 4), 0.25), dim=-1),
                    {"p": "probs", "q": "probs", "dim": "dim"}),
    "kl_quadrature": (divergences.kl_quadrature,
                      lambda: dict(log_p=_std_normal, log_q=_log_q, lower=-8.0, upper=8.0, n_points=101),
                      {"log_p": "callable", "log_q": "callable", "lower": "bound", "upper": "bound",
                       "n_points": "n_points"}),
    "kl_monte_carlo": (divergences.kl_monte_carlo, lambda: dict(log_q=torch.randn(5, B), log_p=torch.randn(5, B)),
                       {"log_q": "typed", "log_p": "typed"}),
    "mc_estimate": (divergences.mc_estimate, lambda: dict(values=torch.randn(5, B)), {"values": "values"}),
    "kl_diag_gaussian_to_standard_normal": (
        divergences.kl_diag_gaussian_to_standard_normal, lambda: dict(mu=torch.randn(B, J), logvar=torch.randn(B, J),
                                                            reduction="mean"),
        {"mu": "typed", "logvar": "typed", "reduction": "reduction"}),
    "kl_diag_gaussians": (divergences.kl_diag_gaussians,
                          lambda: dict(mu_q=torch.randn(B, J), logvar_q=torch.randn(B, J), mu_p=torch.randn(B, J),
                                       logvar_p=torch.randn(B, J), reduction="sum"),
                          {"mu_q": "typed", "logvar_q": "typed", "mu_p": "typed", "logvar_p": "typed",
                           "reduction": "reduction"}),
    "source_penalty": (divergences.source_penalty, lambda: dict(mu=torch.randn(B, J), s=torch.randn(B, J)),
                       {"mu": "typed", "s": "typed"}),
    "kl_logstd_to_standard_normal": (divergences.kl_logstd_to_standard_normal,
                                     lambda: dict(mu=torch.randn(B, J), log_std=torch.randn(B, J)),
                                     {"mu": "typed", "log_std": "typed"}),
    "kl_units": (divergences.kl_units, lambda: dict(mu=torch.randn(B, J), logvar=torch.randn(B, J)),
                 {"mu": "typed", "logvar": "typed"}),
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
                                lambda: dict(x=pixels(), mean=pixels(), variance=1.0, reduction="mean"),
                                {"x": "typed", "mean": "typed", "variance": "positive", "reduction": "reduction"}),
    "negative_elbo": (O.negative_elbo,
                      lambda: dict(x=pixels(), decoder_logits=torch.randn(B, D), mu=torch.randn(B, J),
                                   logvar=torch.randn(B, J), likelihood="bernoulli", variance=1.0, beta=1.0,
                                   reduction="mean"),
                      {"x": "pixels", "decoder_logits": "typed", "mu": "typed", "logvar": "typed",
                       "likelihood": "likelihood", "variance": "positive", "beta": "nonnegative",
                       "reduction": "reduction"}),
    "source_eq8_loss": (O.source_eq8_loss, lambda: dict(x=pixels(), y=pixels(), mu=torch.randn(B, J),
                                                        logvar=torch.randn(B, J), reduction="sum", beta=0.5),
                        {"x": "typed", "y": "typed", "mu": "typed", "logvar": "typed", "reduction": "reduction",
                         "beta": "nonnegative"}),
    "source_eq8_equivalent_variance": (O.source_eq8_equivalent_variance, lambda: dict(D=784),
                                       {"D": "size"}),
    "logvar_to_std": (P.logvar_to_std, lambda: dict(logvar=torch.randn(B, J)), {"logvar": "values"}),
    "logvar_to_var": (P.logvar_to_var, lambda: dict(logvar=torch.randn(B, J)), {"logvar": "values"}),
    "logvar_to_logstd": (P.logvar_to_logstd, lambda: dict(logvar=torch.randn(B, J)), {"logvar": "values"}),
    "logstd_to_logvar": (P.logstd_to_logvar, lambda: dict(log_std=torch.randn(B, J)), {"log_std": "values"}),
    "std_to_logvar": (P.std_to_logvar, lambda: dict(std=torch.rand(B, J) + 0.1), {"std": "scale"}),
    "var_to_logvar": (P.var_to_logvar, lambda: dict(var=torch.rand(B, J) + 0.1), {"var": "scale"}),
    "reparameterize": (reparameterize, lambda: dict(mu=torch.randn(B, J), logvar=torch.randn(B, J), generator=None),
                       {"mu": "typed", "logvar": "typed", "generator": "generator"}),
    "heldout_elbo": (evaluation.heldout_elbo, lambda: dict(model=_model(), x=pixels(), batch_size=2, seed=0,
                                                           likelihood="bernoulli", variance=0.5),  # x in [0, 1]
                     {"model": "vae", "x": "images", "batch_size": "size", "seed": "seed",
                      "likelihood": "likelihood", "variance": "positive"}),
    "log_importance_weights": (evaluation.log_importance_weights,
                               lambda: dict(model=_model(), x=pixels(), k=2, generator=None,
                                            likelihood="continuous_bernoulli", variance=1.0),
                               {"model": "vae", "x": "images", "k": "size", "generator": "generator",
                                "likelihood": "likelihood", "variance": "positive"}),
    "importance_sampled_log_likelihood": (
        evaluation.importance_sampled_log_likelihood,
        lambda: dict(model=_model(), x=pixels(), k=2, batch_size=2, seed=0, likelihood="bernoulli", variance=2.0),
        {"model": "vae", "x": "images", "k": "size", "batch_size": "optional_size", "seed": "seed",
         "likelihood": "likelihood", "variance": "positive"}),
    "log_mean_exp": (evaluation.log_mean_exp, lambda: dict(logw=torch.randn(3, B)), {"logw": "values"}),
    "evaluate": (training.evaluate, lambda: dict(model=_model(), objective=training.vae_objective(), x=pixels(),
                                                 batch_size=2),
                 {"model": "module", "objective": "objective", "x": "images", "batch_size": "size"}),
}

# --- bad tensors: each family of bad values, and the kinds of tensor argument it applies to


def _put(value):
    """A bad tensor: the good one with ``value`` at its second element."""
    def bad(t):
        t = t.clone()
        t.view(-1)[1] = value
        return t

    return bad


NUMBER_OR_TENSOR = "must be a finite number or a floating-point tensor, got"
# family -> (the bad tensor made from a good one, the error, what the message says after the argument's name)
TENSOR_FAMILIES = {
    "nan": (_put(NAN), ValueError, "contains NaN or inf"),
    "inf": (_put(INF), ValueError, "contains NaN or inf"),
    "-inf": (_put(-INF), ValueError, "contains NaN or inf"),
    "int": (lambda t: t.round().long(), TypeError, "must have a floating-point dtype, got torch.int64"),
    "list": (lambda t: t.tolist(), TypeError, "must be a torch.Tensor, got list"),
    "ndarray": (lambda t: t.numpy(), TypeError, "must be a torch.Tensor, got ndarray"),
    "empty": (lambda t: t[:0], ValueError, r"is empty \(shape \(0, "),
    "meta": (lambda t: t.to("meta"), ValueError, "is a meta tensor"),
}
# ...and the families of values out of range, for the kinds that name them (``extra`` below)
RANGE_FAMILIES = {
    "negative": (_put(-0.5), ValueError, "must be non-negative"),
    "zero": (_put(0.0), ValueError, "must be strictly positive"),
    "unnormalised": (lambda t: t * 1.5, ValueError, "must sum to 1 along dim=-1"),
    "out_of_unit": (_put(1.5), ValueError, r"must lie in \[0, 1\]"),
}

# tensor kinds -> which bad-value families apply: "dims" (dimensions that may grow), "dtype" (float64
# must match the other tensors, or the model), "extra" (the RANGE_FAMILIES), "messages" (other words)
TENSOR_KINDS = {
    "values": dict(dims=(), dtype=False, extra=()),  # elementwise, any shape
    "tensor": dict(dims=(0, 1), dtype=False, extra=()),  # broadcast: float64 next to float32 is fine
    "number_or_tensor": dict(dims=(0, 1), dtype=False, extra=(),  # broadcast, and a number will do
                             messages={"list": NUMBER_OR_TENSOR, "ndarray": NUMBER_OR_TENSOR}),
    "typed": dict(dims=(0, 1), dtype=True, extra=()),
    "probs": dict(dims=(0, 1), dtype=True, extra=("negative", "unnormalised")),
    "pixels": dict(dims=(0, 1), dtype=True, extra=("out_of_unit",)),
    "images": dict(dims=(1,), dtype=True, extra=("out_of_unit",)),  # any number of rows, D columns; the model's dtype
    "scale": dict(dims=(), dtype=False, extra=("negative", "zero")),
}
# the kinds checked against the function's other tensors (not against a model): one shape, one dtype
MATCHED_KINDS = ("typed", "probs", "pixels")

# --- bad values of the other kinds: (value, error, what the message says after the argument's name)


def _size_examples(*, none: bool) -> list:
    """One rule for every integer argument: a wrong type is a TypeError, a wrong value a ValueError."""
    return [(0, ValueError, "must be a positive integer, got 0"), (-1, ValueError, "must be a positive integer"),
            (2.5, TypeError, "must be an int, got float"), (True, TypeError, "must be an int, got bool"),
            ("10", TypeError, "must be an int, got str")] + [(None, TypeError, "must be an int, got NoneType")] * none


_VARIANCE_WORDS, _WEIGHT_WORDS = "must be a finite positive number", "must be a finite number >= 0"
BAD_EXAMPLES = {
    "size": _size_examples(none=True),
    "optional_size": _size_examples(none=False),  # None: the default
    "seed": [(1.5, TypeError, "must be an int, got float"), ("0", TypeError, "must be an int, got str"),
             (None, TypeError, "must be an int, got NoneType"), (2**64, ValueError, "must fit in 64 bits"),
             (-(2**63) - 1, ValueError, "must fit in 64 bits")],
    "positive": [(-1.0, ValueError, _VARIANCE_WORDS), (0.0, ValueError, _VARIANCE_WORDS), (INF, ValueError, _VARIANCE_WORDS),
                 (NAN, ValueError, _VARIANCE_WORDS), (torch.tensor(1.0), TypeError, "must be a number, got Tensor"),
                 (True, TypeError, "must be a number, got bool")],
    "nonnegative": [(-1.0, ValueError, _WEIGHT_WORDS), (INF, ValueError, _WEIGHT_WORDS), (NAN, ValueError, _WEIGHT_WORDS),
                    ("1", TypeError, "must be a number, got str"), (True, TypeError, "must be a number, got bool"),
                    (None, TypeError, "must be a number, got NoneType")],
    "bound": [("-4", TypeError, "must be a number, got str"), (None, TypeError, "must be a number, got NoneType")],
    "n_points": [(2, ValueError, "must be an integer >= 3, got 2"), (10.0, TypeError, "must be an int, got float"),
                 ("many", TypeError, "must be an int, got str"), (True, TypeError, "must be an int, got bool")],
    "dim": [(v, ValueError, rf"must be an integer in \[-2, 1\], got {v}") for v in (2, -3)]
           + [(v, TypeError, f"must be an int, got {type(v).__name__}") for v in (1.0, "last", None)],
    "reduction": [(v, ValueError, r"must be one of \('none', 'mean', 'sum'\)") for v in ("avg", "Mean")]
                 + [(None, TypeError, "must be a str, got NoneType")],
    "likelihood": [("poisson", ValueError,
                    r"must be one of \('bernoulli', 'continuous_bernoulli', 'gaussian'\), got 'poisson'")],
    "generator": [(v, TypeError, f"must be a torch.Generator or None, got {type(v).__name__}")
                  for v in (0, "seed", 1.5, torch.tensor(0))],
    "vae": [(v, TypeError, f"must be a vae_lib.VAE, got {type(v).__name__}")
            for v in (None, "vae", 3, torch.nn.Linear(D, J), AutoEncoder(ModelConfig(D, 4, J)))],
    "module": [(v, TypeError, f"must be a torch.nn.Module, got {type(v).__name__}") for v in (None, "model", 3)],
    "objective": [(v, TypeError, rf"must be a callable \(model, x\) -> ElboTerms, got {type(v).__name__}")
                  for v in ("elbo", None, 3)],
    "callable": [(v, TypeError, r"must be a callable mapping a \(N,\) grid to log densities")
                 for v in (torch.zeros(101, dtype=F64), 0.5, None)],
}


def _label(value) -> str:
    return repr(value) if isinstance(value, (int, float, str, type(None))) else type(value).__name__


def _kind_cases(select) -> list:
    """(function, argument, kind) for every argument of the table whose kind ``select`` accepts."""
    return [(f, a, k) for f, (_, _, kinds) in SPECS.items() for a, k in kinds.items() if select(k)]


TENSOR_CASES = [pytest.param(family, f, a, k, id=f"{f}-{a}-{family}")
                for f, a, k in _kind_cases(lambda k: k in TENSOR_KINDS)
                for family in (*TENSOR_FAMILIES, *TENSOR_KINDS[k]["extra"])]
MATCHED_CASES = [pytest.param(f, a, id=f"{f}-{a}") for f, a, _ in _kind_cases(lambda k: k in MATCHED_KINDS)]
EXAMPLE_CASES = [pytest.param(f, a, bad, error, words, id=f"{f}-{a}={_label(bad)}")
                 for f, a, k in _kind_cases(lambda k: k in BAD_EXAMPLES) for bad, error, words in BAD_EXAMPLES[k]]


def call(fname, **override):
    f, build, _ = SPECS[fname]
    return f(**{**build(), **override})


def _finite(out) -> bool:
    if isinstance(out, tuple):  # ElboTerms, MCEstimate
        return all(_finite(o) for o in out)
    return bool(torch.isfinite(torch.as_tensor(out)).all())


def _public_functions(module) -> set[str]:
    return {name for name, f in inspect.getmembers(module, inspect.isfunction)
            if not name.startswith("_") and f.__module__ == module.__name__}


def test_the_specs_cover_every_public_function():
    wanted = (_public_functions(O) | _public_functions(divergences) | _public_functions(P)
              | _public_functions(evaluation) | {"reparameterize", "evaluate"})
    assert wanted == set(SPECS)
    for name, (f, build, kinds) in SPECS.items():
        assert set(kinds) == set(build()) == set(inspect.signature(f).parameters), name  # every argument
        assert all(k in TENSOR_KINDS or k in BAD_EXAMPLES for k in kinds.values()), name  # and a known kind


@pytest.mark.parametrize("fname", SPECS)
def test_the_good_arguments_are_accepted(fname):
    assert _finite(call(fname))


@pytest.mark.parametrize("family,fname,arg,kind", TENSOR_CASES)
def test_bad_tensors_are_rejected_with_the_argument_named(family, fname, arg, kind):
    make, error, words = {**TENSOR_FAMILIES, **RANGE_FAMILIES}[family]
    words = TENSOR_KINDS[kind].get("messages", {}).get(family, words)
    good = SPECS[fname][1]()[arg]
    with pytest.raises(error, match=f"^{arg} {words}"):
        call(fname, **{arg: make(good)})


@pytest.mark.parametrize("fname,arg", MATCHED_CASES)
def test_float64_mixed_with_float32_is_rejected(fname, arg):
    t = SPECS[fname][1]()[arg].double()
    with pytest.raises(TypeError, match=f"^{arg} has dtype torch.float64 but .* has dtype torch.float32"
                       f"|^.* has dtype torch.float32 but {arg} has dtype torch.float64"):
        call(fname, **{arg: t})


@pytest.mark.parametrize("fname,arg", MATCHED_CASES)
def test_mismatched_shapes_are_rejected(fname, arg):
    t = SPECS[fname][1]()[arg]
    bad = torch.cat([t, t[..., :1]], dim=-1)  # one extra column
    with pytest.raises(ValueError, match=f"^{arg} has shape .* must match|has shape .* but {arg} has shape"):
        call(fname, **{arg: bad})


@pytest.mark.parametrize("fname,arg,bad,error,words", EXAMPLE_CASES)
def test_bad_arguments_are_rejected_with_the_argument_named(fname, arg, bad, error, words):
    with pytest.raises(error, match=f"^{arg} {words}"):
        call(fname, **{arg: bad})


# --- Hypothesis: random bad values of each kind, for every argument of the table
#
# A call with one argument replaced by a bad value must raise ValueError or TypeError naming
# that argument. The bad values: the table's own, and random ones of the same kinds.

_not_numbers = st.one_of(st.text(max_size=3), st.none(), st.booleans(), st.just(torch.tensor(1.0)), st.just([1]))


def _examples(kind: str):
    return st.sampled_from([bad for bad, _, _ in BAD_EXAMPLES[kind]])


BAD_VALUES = {
    "size": st.one_of(_examples("size"), st.integers(max_value=0), st.floats(allow_nan=True), _not_numbers),
    "optional_size": st.one_of(_examples("optional_size"), st.integers(max_value=0), st.floats(allow_nan=True),
                               _not_numbers.filter(lambda v: v is not None)),  # None: the default
    "n_points": st.one_of(_examples("n_points"), st.integers(max_value=2), st.floats(allow_nan=True), _not_numbers),
    "seed": st.one_of(_examples("seed"), st.integers(min_value=2**64), st.integers(max_value=-(2**63) - 1),
                      st.floats(), _not_numbers),
    "positive": st.one_of(_examples("positive"), st.floats(max_value=0.0), _not_numbers),
    "nonnegative": st.one_of(_examples("nonnegative"), st.floats(max_value=-1e-300), _not_numbers),
    "bound": st.one_of(_examples("bound"), st.sampled_from([NAN, INF, -INF]), _not_numbers),
    "reduction": st.one_of(_examples("reduction"), st.text(max_size=5).filter(lambda s: s not in ("none", "mean", "sum")),
                           st.integers()),
    "likelihood": st.one_of(_examples("likelihood"), st.text(max_size=5), st.none(), st.integers()),
    "dim": st.one_of(_examples("dim"), st.integers(min_value=2), st.integers(max_value=-3), st.floats(), _not_numbers),
    "vae": _examples("vae"),
    "module": st.one_of(_examples("module"), _not_numbers),
    "objective": st.one_of(_examples("objective"), st.integers(), st.floats(), st.text(max_size=3)),
    "generator": _examples("generator"),
}


def _bad_tensor(data, good: torch.Tensor, kind: str):
    spec = TENSOR_KINDS[kind]
    families = [*TENSOR_FAMILIES, *spec["extra"]] + ["shape"] * bool(spec["dims"]) + ["float64"] * spec["dtype"]
    family = data.draw(st.sampled_from(families), label="family")
    index = data.draw(st.integers(0, good.numel() - 1), label="index")
    t = good.clone()
    if family in ("nan", "inf", "-inf", "negative", "zero", "out_of_unit"):
        t.view(-1)[index] = {"nan": NAN, "inf": INF, "-inf": -INF, "negative": -0.5, "zero": 0.0,
                             "out_of_unit": data.draw(st.sampled_from([-0.1, 1.5]))}[family]
        return t
    if family == "int":
        return t.round().to(data.draw(st.sampled_from([torch.int64, torch.int32, torch.uint8, torch.bool])))
    if family == "float64":
        return t.double()
    shape = list(good.shape)
    if family == "empty":
        shape[data.draw(st.integers(0, len(shape) - 1))] = 0
        return torch.empty(shape)
    if family == "shape":
        dim = data.draw(st.sampled_from(spec["dims"]))  # one dimension grows
        shape[dim] += data.draw(st.integers(1, 3))
        return torch.rand(shape)
    return {**TENSOR_FAMILIES, **RANGE_FAMILIES}[family][0](t)  # list, ndarray, meta, unnormalised


def _bad_callable(data):
    family = data.draw(st.sampled_from(["example", "nan", "+inf", "short", "scalar", "column", "int", "list"]),
                       label="family")
    if family == "example":  # not a callable
        return data.draw(_examples("callable"))
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


# === objectives and divergences: what the table cannot say =======================================


def test_the_losses_need_one_batch_size():
    for fname in ("negative_elbo", "source_eq8_loss"):
        with pytest.raises(ValueError, match=r"x must be \(B, [Dn]\) and mu \(B, J\) with the same B"):
            call(fname, mu=torch.randn(B + 1, J), logvar=torch.randn(B + 1, J))


def test_a_latent_dimension_is_required():
    with pytest.raises(ValueError, match=r"mu must have shape \(\.\.\., J\)"):
        divergences.kl_diag_gaussian_to_standard_normal(torch.tensor(0.0), torch.tensor(0.0))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_kls_reject_an_empty_batch(reduction):
    empty = torch.zeros(0, J)
    with pytest.raises(ValueError, match="^mu is empty"):
        divergences.kl_diag_gaussian_to_standard_normal(empty, empty, reduction=reduction)
    with pytest.raises(ValueError, match="^mu_q is empty"):
        divergences.kl_diag_gaussians(empty, empty, empty, empty, reduction=reduction)


def test_a_latent_dimension_of_zero_is_empty_too():
    with pytest.raises(ValueError, match=r"^mu is empty \(shape \(3, 0\)\)"):
        divergences.kl_diag_gaussian_to_standard_normal(torch.zeros(B, 0), torch.zeros(B, 0))


@pytest.mark.parametrize("likelihood", ["continuous_bernoulli", "gaussian"])  # the table's call: bernoulli
def test_negative_elbo_checks_variance_under_every_likelihood(likelihood):
    for variance, error, words in BAD_EXAMPLES["positive"]:
        with pytest.raises(error, match=f"^variance {words}"):
            call("negative_elbo", likelihood=likelihood, variance=variance)


def test_probability_vectors_are_checked():
    with pytest.raises(ValueError, match="^p must have shape"):
        divergences.kl_discrete(torch.tensor(1.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="p must be non-negative"):
        divergences.kl_discrete(torch.tensor([1.5, -0.5]), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="q must sum to 1 along dim=-1"):
        divergences.kl_discrete(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="q has shape"):
        divergences.kl_discrete(torch.tensor([0.5, 0.5]), torch.tensor([0.2, 0.3, 0.5]))


def test_kl_monte_carlo_needs_a_sample_dimension():
    with pytest.raises(ValueError, match=r"^log_q must have shape \(S, \.\.\.\)"):
        divergences.kl_monte_carlo(torch.tensor(1.0), torch.tensor(0.5))


def test_normal_log_prob_checks_broadcasting():
    with pytest.raises(ValueError, match=r"^x, mu and logvar must broadcast together, got shapes \(3, 2\), \(3,\)"):
        O.normal_log_prob(torch.zeros(3, 2), torch.zeros(3), 0.0)


@pytest.mark.parametrize("f", [O.gaussian_log_likelihood, O.bernoulli_log_likelihood])
def test_the_likelihoods_need_a_pixel_dimension(f):
    # before: IndexError from x.shape[-1] in the Gaussian case
    args = (torch.tensor(0.5), torch.tensor(0.5)) + ((1.0,) if f is O.gaussian_log_likelihood else ())
    with pytest.raises(ValueError, match=r"^x must have shape \(B, D\)"):
        f(*args)


# --- kl_quadrature: its interval, and what its log densities return


def test_kl_quadrature_needs_a_finite_interval_in_order():
    for lower, upper in ((1.0, -1.0), (0.0, 0.0)):
        with pytest.raises(ValueError, match=f"^lower must be below upper, got lower={lower:g}, upper={upper:g}"):
            divergences.kl_quadrature(_std_normal, _std_normal, lower, upper)
    for lower, upper in ((-INF, 1.0), (NAN, 1.0), (0.0, INF)):
        name = "lower" if not math.isfinite(lower) else "upper"
        with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
            divergences.kl_quadrature(_std_normal, _std_normal, lower, upper)


def test_kl_quadrature_needs_tensors_from_its_log_densities():
    with pytest.raises(TypeError, match=r"log_p\(x\) must be a torch.Tensor"):
        divergences.kl_quadrature(lambda t: t.numpy(), _std_normal, -1.0, 1.0)


@pytest.mark.parametrize("which", ["log_p", "log_q"])
@pytest.mark.parametrize("index", [0, 50])  # a NaN where p underflows was dropped from the integral
def test_kl_quadrature_rejects_nan_log_densities(which, index):
    fs = {"log_p": _std_normal, "log_q": _std_normal, which: _with(NAN, index)}
    with pytest.raises(ValueError, match=rf"^{which}\(x\) contains NaN"):
        divergences.kl_quadrature(fs["log_p"], fs["log_q"], -40.0, 40.0, n_points=101)


def test_kl_quadrature_rejects_plus_inf_but_accepts_minus_inf():
    with pytest.raises(ValueError, match=r"^log_p\(x\) contains NaN or \+inf"):
        divergences.kl_quadrature(_with(INF, 50), _std_normal, -4.0, 4.0, n_points=101)
    # -inf is a zero density: where p = 0 it contributes nothing, where q = 0 the KL is infinite
    assert torch.isfinite(divergences.kl_quadrature(_with(-INF, 0), _std_normal, -4.0, 4.0, n_points=101))
    assert divergences.kl_quadrature(_std_normal, _with(-INF, 50), -4.0, 4.0, n_points=101) == INF


@pytest.mark.parametrize("bad", [lambda t: _std_normal(t)[:-1], lambda t: _std_normal(t).sum(),
                                 lambda t: _std_normal(t)[:, None], lambda t: _std_normal(t).repeat(2)])
def test_kl_quadrature_checks_the_shape_of_the_output(bad):
    with pytest.raises(ValueError, match=r"^log_q\(x\) must have the grid's shape \(101,\)"):
        divergences.kl_quadrature(_std_normal, bad, -4.0, 4.0, n_points=101)


def test_kl_quadrature_batched_outputs_must_broadcast():
    two = lambda t: _std_normal(t).expand(2, -1)  # noqa: E731
    three = lambda t: _std_normal(t).expand(3, -1)  # noqa: E731
    with pytest.raises(ValueError, match=r"^log_p\(x\) and log_q\(x\) have shapes \(2, 101\) and \(3, 101\)"):
        divergences.kl_quadrature(two, three, -4.0, 4.0, n_points=101)
    # (G, N) against (N,) is how kl_fits.kl_landscape integrates G Gaussians at once: still accepted
    assert torch.equal(divergences.kl_quadrature(two, _std_normal, -4.0, 4.0, n_points=101), torch.zeros(2, dtype=F64))


# --- kl_diag_gaussians in half precision


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mu_q,logvar_q,mu_p,logvar_p", [
    (0.0, -30.0, 0.0, -12.0),  # the user's case: exp(12) overflows float16, 0 * inf = NaN
    (0.01, -30.0, 0.0, -12.0),
    (0.5, -8.0, 0.0, -11.5),  # exp(11.5) overflows float16: the KL came out inf, 24708 is right
    (0.0, 0.0, 0.0, 0.0),
])
def test_kl_diag_gaussians_in_half_precision_is_finite_and_close_to_float64(dtype, mu_q, logvar_q, mu_p, logvar_p):
    args = [torch.tensor([[v, v]], dtype=dtype) for v in (mu_q, logvar_q, mu_p, logvar_p)]
    half = divergences.kl_diag_gaussians(*args, reduction="none")
    exact = divergences.kl_diag_gaussians(*(a.double() for a in args), reduction="none")  # the same rounded inputs
    assert half.dtype == dtype and torch.isfinite(half).all()
    torch.testing.assert_close(half.double(), exact, rtol=1e-2 if dtype == torch.bfloat16 else 1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_diag_gaussians_computes_float32_and_float64_as_before(dtype):
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(5, 4, generator=g, dtype=dtype) for _ in range(4))
    before = 0.5 * (lp - lq + (lq - lp).exp() + (mq - mp).pow(2) * (-lp).exp() - 1.0).sum(-1)  # op for op
    assert torch.equal(divergences.kl_diag_gaussians(mq, lq, mp, lp, reduction="none"), before)
    assert torch.equal(divergences.kl_diag_gaussians(mq, lq, mp, lp), before.mean())



# === params ===========================================================================================


def test_negative_scales_and_variances_are_rejected():
    with pytest.raises(ValueError, match="^std must be non-negative"):
        P.std_to_logvar(torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="^var must be non-negative"):
        P.var_to_logvar(torch.tensor([-1e-3]))


# === models: reparameterize, the models' inputs, configuration and sampling =========================


def test_reparameterize_keeps_its_numbers():
    mu, logvar = torch.randn(B, J), torch.randn(B, J)
    eps = torch.randn(B, J, generator=torch.Generator().manual_seed(7))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    assert torch.equal(z, mu + torch.exp(0.5 * logvar) * eps)


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device for a real cross-device mix")
def test_cuda_cpu_mix_is_named():
    with pytest.raises(ValueError, match="logvar is on cuda:0 but mu is on cpu"):
        divergences.kl_diag_gaussian_to_standard_normal(torch.randn(B, J), torch.randn(B, J).cuda())
    with pytest.raises(ValueError, match="x is on cpu but the model is on cuda:0"):
        VAE(ModelConfig(D, 4, J)).cuda()(pixels())


def test_model_on_another_device_names_the_input():
    model = VAE(ModelConfig(D, 4, J)).to("meta")
    with pytest.raises(ValueError, match="x is on cpu but the model is on meta"):
        model.encode(pixels())


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


def test_model_config_and_sample_reject_bools():
    with pytest.raises(TypeError, match="^latent_dim must be an int, got bool"):
        ModelConfig(latent_dim=True)
    with pytest.raises(TypeError, match="^n must be an int, got bool"):
        tiny_vae().sample(True)
    with pytest.raises(TypeError, match="^generator must be a torch.Generator"):
        tiny_vae().sample(2, generator="seed")


# === _checks: the helpers themselves ==================================================================


def test_check_helpers_directly():
    assert _checks.reduce_batch(torch.tensor([1.0, 3.0]), "mean").item() == 2.0
    with pytest.raises(ValueError, match="must be a finite positive number"):
        _checks.check_positive_number("scale", -2)
    assert _checks.check_tensor("inf_ok", torch.tensor([INF]), finite=False).isinf().all()
    with pytest.raises(ValueError, match="colour must be one of \\('red',\\), got 'blue'"):
        _checks.check_choice("colour", "blue", ("red",))
    assert math.isfinite(_checks.check_positive_number("scale", 2))


def test_check_same_names_a_device_mismatch():
    # no second real device on a CPU-only machine: the "meta" device stands in for one in the
    # helper; the public functions refuse meta tensors outright (the table's "meta" family)
    with pytest.raises(ValueError, match="b is on meta but a is on cpu"):
        _checks.check_same(("a", "b"), torch.zeros(2), torch.zeros(2, device="meta"))


def test_check_instance_and_check_callable_name_the_argument_and_what_was_expected():
    _checks.check_instance("history", {}, dict, "a dict")
    _checks.check_instance("history", None, dict, "a dict", optional=True)
    _checks.check_callable("on_epoch", print, "a callable (epoch, history)")
    _checks.check_callable("on_epoch", None, "a callable (epoch, history)", optional=True)
    for value, optional, words in (([], False, "^history must be a dict, got list$"),
                                   ([], True, "^history must be a dict or None, got list$"),
                                   (None, False, "^history must be a dict, got NoneType$")):
        with pytest.raises(TypeError, match=words):
            _checks.check_instance("history", value, dict, "a dict", optional=optional)
    for value, optional, words in ((3, True, r"^on_epoch must be a callable \(epoch, history\) or None, got int$"),
                                   (None, False, r"^on_epoch must be a callable \(epoch, history\), got NoneType$")):
        with pytest.raises(TypeError, match=words):
            _checks.check_callable("on_epoch", value, "a callable (epoch, history)", optional=optional)


# === book.live: Slider and LiveExplorer ===========================================================


@pytest.mark.parametrize("kwargs,error,match", [
    ({"key": "a b"}, ValueError, "^key must be an identifier"),
    ({"label": ""}, ValueError, "^label must be a non-empty str"),
    ({"label": 3}, TypeError, "^label must be a str, got int"),
    ({"key": 3}, TypeError, "^key must be a str, got int"),
    ({"lo": NAN}, ValueError, "^lo must be a finite number"),
    ({"hi": INF}, ValueError, "^hi must be a finite number"),
    ({"lo": "0"}, TypeError, "^lo must be a number"),
    ({"lo": 2.0}, ValueError, "^slider 's': lo must be below hi, got lo=2, hi=1"),
    ({"value": 3.0}, ValueError, r"^slider 's': value must lie in \[lo, hi\] = \[-1, 1\], got 3"),
    ({"log": True}, ValueError, "^slider 's': a log slider needs lo > 0, got -1"),
    ({"ticks": (0.0, 5.0)}, ValueError, r"^slider 's': ticks must lie in \[-1, 1\], got \[5.0\]"),
    ({"ticks": (0.0,), "tick_labels": ("a", "b")}, ValueError, r"^slider 's': tick_labels must name every tick \(1\)"),
    ({"digits": -1}, ValueError, "^digits must be a non-negative integer, got -1"),
    ({"digits": 1.5}, TypeError, "^digits must be an int, got float"),
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
    with pytest.raises(ValueError, match="^sliders must hold at least one Slider"):
        live.LiveExplorer("x", "kl-gaussians", [], {}, **ok)
    with pytest.raises(TypeError, match="^sliders must be a list of Slider, got Slider"):
        live.LiveExplorer("x", "kl-gaussians", s, {}, **ok)
    with pytest.raises(TypeError, match=r"^sliders\[1\] must be a Slider, got dict"):
        live.LiveExplorer("x", "kl-gaussians", [s, {}], {}, **ok)
    with pytest.raises(TypeError, match="^kind must be a str, got NoneType"):
        live.LiveExplorer("x", None, [s], {}, **ok)
    with pytest.raises(ValueError, match=r"^sliders repeat a key: \['s', 's'\]"):
        live.LiveExplorer("x", "kl-gaussians", [s, s], {}, **ok)
    with pytest.raises(ValueError, match="^description must say what the figure shows"):
        live.LiveExplorer("x", "kl-gaussians", [s], {}, description=" ")
    with pytest.raises(TypeError, match="^data must be a dict, got list"):
        live.LiveExplorer("x", "kl-gaussians", [s], [], **ok)
    with pytest.raises(TypeError, match="^learned must be a dict or None, got list"):
        live.LiveExplorer("x", "kl-gaussians", [s], {}, learned=[], **ok)
    with pytest.raises(ValueError, match=r"must be finite \(the page reads JSON"):
        live.LiveExplorer("x", "kl-gaussians", [s], {"y_max": NAN}, **ok)


def test_seeded_noise_and_export_name_their_arguments():
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 4294967295\], got -1"):
        noise.seeded_uniform(3, -1)
    with pytest.raises(TypeError, match="^seed must be an int, got float"):
        noise.seeded_uniform(3, 1.0)
    with pytest.raises(ValueError, match="^dim must be a positive integer"):
        noise.seeded_normal(3, 0, 0)
    with pytest.raises(TypeError, match="^mlp must be an nn.Sequential"):
        live.export_mlp(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="^mlp layer 1 is Tanh; only ReLU may follow a Linear"):
        live.export_mlp(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match=r"^output must be one of \('sigmoid', 'identity'\), got 'tanh'"):
        live.export_mlp(torch.nn.Sequential(torch.nn.Linear(2, 2)), output="tanh")
    bad = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with torch.no_grad():
        bad[0].weight[0, 0] = NAN
    with pytest.raises(ValueError, match="^mlp layer 0 has non-finite weights"):
        live.export_mlp(bad)
    exported = live.export_mlp(torch.nn.Sequential(torch.nn.Linear(2, 3)))
    with pytest.raises(ValueError, match="^layer 0 takes 2 inputs, got z with 4"):
        live.exported_forward(exported, torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"^z must be a tensor of shape \(B, J\), got \(2,\)"):
        live.exported_forward(exported, torch.zeros(2))
    with pytest.raises(TypeError, match="^z must be a torch.Tensor, got list"):
        live.exported_forward(exported, [[0.0, 0.0]])
    with pytest.raises(TypeError, match="^exported must be a dict from export_mlp, got list"):
        live.exported_forward([], torch.zeros(1, 2))


# === plotting ========================================================================================


@pytest.mark.parametrize("nrow,error,words", BAD_EXAMPLES["size"],
                         ids=[_label(v) for v, _, _ in BAD_EXAMPLES["size"]])
def test_image_grid_checks_nrow(nrow, error, words):
    # before: ZeroDivisionError for nrow=0
    with pytest.raises(error, match=f"^nrow {words}"):
        plotting.image_grid(torch.rand(4, 784), nrow=nrow)


def test_image_grid_latent_scatter_and_loss_curves_check_their_inputs():
    with pytest.raises(TypeError, match="^images must be a torch.Tensor"):
        plotting.image_grid([[0.0] * 784])
    with pytest.raises(ValueError, match=r"^z must have shape \(N, J\) with J >= 2"):
        plotting.latent_scatter(torch.zeros(5, 1), torch.zeros(5))
    with pytest.raises(TypeError, match="^labels must be a torch.Tensor, got list"):
        plotting.latent_scatter(torch.zeros(5, 2), [0] * 5)
    with pytest.raises(ValueError, match=r"^labels must have shape \(5,\), one label per code, got \(4,\)"):
        plotting.latent_scatter(torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(TypeError, match="^history must be a vae_lib.training.History"):
        plotting.loss_curves({"train/loss": [1.0]})
    with pytest.raises(ValueError, match=r"^keys \['heldout/loss'\] are not in the history"):
        plotting.loss_curves(training.History({"train/loss": [1.0]}), ["heldout/loss"])
    plt.close("all")


# === book, runtime and the chapters' helpers: the caller's argument names, never an internal tensor's ===


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
    with pytest.raises(ValueError, match=f"^{name} must be a finite (positive )?number"):
        closed_form_kl.kl_per_unit_grid(n=5, **kwargs)


def test_kl_per_unit_grid_checks_n_and_the_order_of_its_bounds():
    with pytest.raises(ValueError, match="^n must be an integer >= 2, got 1"):
        closed_form_kl.kl_per_unit_grid(n=1)
    with pytest.raises(TypeError, match="^n must be an int, got float"):
        closed_form_kl.kl_per_unit_grid(n=5.0)
    with pytest.raises(ValueError, match="^logvar_min must be below logvar_max, got logvar_min=1, logvar_max=-1"):
        closed_form_kl.kl_per_unit_grid(logvar_min=1.0, logvar_max=-1.0)


def test_gaussian_cross_entropy_term_names_mu_p_and_logvar_p():
    z = torch.zeros(3, dtype=F64)
    with pytest.raises(ValueError, match="^mu_p contains NaN"):
        closed_form_kl.gaussian_cross_entropy_term(z, z, torch.full((3,), NAN, dtype=F64), z)
    with pytest.raises(ValueError, match="^mu_p and logvar_p must share one shape"):
        closed_form_kl.gaussian_cross_entropy_term(z, z, z, torch.zeros(4, dtype=F64))


def test_kl_explorer_names_its_numbers():
    for y_max in (INF, 0.0):
        with pytest.raises(ValueError, match="^y_max must be a finite positive number"):
            closed_form_kl.kl_explorer(y_max=y_max)


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
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 4294967295\]"):
        encoder_gaussian.sample_cloud_explorer(seed=2**32)


def test_plane_explorer_checks_its_arguments():
    torch.manual_seed(0)
    ae = AutoEncoder(ModelConfig(784, 8, 3))
    codes = latent.encode_codes(ae, torch.rand(20, 784))
    plane, labels = code_plane.principal_plane(codes), torch.arange(20) % 10
    with pytest.raises(TypeError, match="^labels must be a torch.Tensor, got list"):
        code_plane.plane_explorer("p", ae, plane, codes, labels.tolist())
    with pytest.raises(ValueError, match=r"^labels must have shape \(20,\), got \(19,\)"):
        code_plane.plane_explorer("p", ae, plane, codes, labels[1:])
    with pytest.raises(TypeError, match="^plane must be a CodePlane"):
        code_plane.plane_explorer("p", ae, (0, 1), codes, labels)
    with pytest.raises(ValueError, match="^max_points must be a positive integer"):
        code_plane.plane_explorer("p", ae, plane, codes, labels, max_points=0)
    with pytest.raises(ValueError, match="^grid_limit must be a finite positive number, got -1.0"):
        code_plane.plane_explorer("p", ae, plane, codes, labels, grid_limit=-1.0)
    with pytest.raises(ValueError, match="^limit must be a finite positive number, got nan"):
        code_plane.plane_explorer("p", ae, plane, codes, labels, limit=NAN)
    with pytest.raises(ValueError, match="^explorer must be a latent-plane explorer"):
        code_plane.exported_plane_codes(closed_form_kl.kl_explorer(), torch.zeros(1), torch.zeros(1))
    with pytest.raises(TypeError, match=r"^explorer must be a LiveExplorer \(plane_explorer\), got dict"):
        code_plane.exported_plane_codes({}, torch.zeros(1), torch.zeros(1))


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
    make = lambda: AutoEncoder(ModelConfig(D, 4, J))  # noqa: E731
    for mask, error, words in (([True] * B, TypeError, "must be a torch.Tensor, got list"),
                               (torch.ones(B), TypeError, "must be a boolean tensor, got torch.float32"),
                               (torch.ones(B + 1, dtype=torch.bool), ValueError, r"must have shape \(3,\), got \(4,\)")):
        with pytest.raises(error, match=rf"^masks\['all'\] {words}"):
            latent.fit_on_subsets(make, training.ae_objective(), pixels(), {"all": mask}, epochs=1)
    with pytest.raises(TypeError, match="^masks must be a dict"):
        latent.fit_on_subsets(make, training.ae_objective(), pixels(), [torch.ones(B, dtype=torch.bool)], epochs=1)


def test_decoder_disagreement_names_model_a_and_model_b():
    ae = AutoEncoder(ModelConfig(D, 4, J))
    with pytest.raises(TypeError, match="^model_b must be a vae_lib AutoEncoder or VAE"):
        latent.decoder_disagreement(ae, "other", torch.zeros(B, J))
    other = AutoEncoder(ModelConfig(D, 4, J + 1))
    with pytest.raises(ValueError, match=r"^z must have shape \(N, 3\) for model_b"):
        latent.decoder_disagreement(ae, other, torch.zeros(B, J))


@pytest.mark.parametrize("call, error, match", [
    (lambda: diagnostics.encode_moments(tiny_vae(), pixels(), batch_size=2.0), TypeError,
     "^batch_size must be an int, got float"),
    (lambda: diagnostics.spectrum_explorer(torch.rand(5), {}, n_show=6), ValueError,
     r"^n_show must be an integer in \[1, 5\], got 6"),
    (lambda: diagnostics.spectrum_explorer(torch.rand(5), [], n_show=5), TypeError,
     "^variance_marks must be a dict of label -> s\\^2, got list"),
    (lambda: latent.prior_radius(True), TypeError, "^latent_dim must be an int, got bool"),
    (lambda: latent.prior_radius(2, 1.0), ValueError, "^mass must lie strictly between 0 and 1, got 1.0"),
    (lambda: latent.interpolate(torch.zeros(2), torch.ones(2), 2.0), TypeError, "^steps must be an int, got float"),
    (lambda: latent.random_codes(1.5, torch.zeros(3, 2)), TypeError, "^n must be an int, got float"),
    (lambda: gradients.ascend_elbo(lambda z: z.sum(-1), torch.zeros(2), torch.zeros(2), estimator="reparameterised",
                                   steps=1.0, lr=0.1, n_samples=2), TypeError, "^steps must be an int, got float"),
    (lambda: gradients.score_function_gradients(lambda z: z.sum(-1), torch.zeros(2), torch.zeros(2), n_samples=2,
                                                baseline="0"), TypeError,
     "^baseline must be a finite number or a GradientSamples"),
    (lambda: gradients.score_function_gradients(lambda z: z.sum(-1), torch.zeros(2), torch.zeros(2), n_samples=2,
                                                baseline=NAN), ValueError, "^baseline must be a finite number, got nan"),
    (lambda: linear_gaussian.grid_rule(torch.zeros(1), torch.ones(1), n_points=2), ValueError,
     "^n_points must be an integer >= 3, got 2"),
    (lambda: book.scientific(1.0, digits=1.0), TypeError, "^digits must be an int, got float"),
    (lambda: book.holds("x", 1), TypeError, "^condition must be a bool, got int"),
    (lambda: book.holds("", True), ValueError, "^statement must be a non-empty str"),
    (lambda: book.use_claims(""), ValueError, "^chapter must be a non-empty str"),
    (lambda: book.use_claims(3), TypeError, r"^chapter must be a chapter name \(str\) or a mapping of ranges, got int"),
])
def test_the_chapters_helpers_raise_one_type_per_rule(call, error, match):
    with pytest.raises(error, match=match):
        call()


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
    with pytest.raises(TypeError, match=r"^means\[0\] must be a number, got str"):
        kl_fits.GaussianMixture1D(weights=(0.5, 0.5), means=("0", 1.0), stds=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"^means\[1\] must be a finite number, got nan"):
        kl_fits.GaussianMixture1D(weights=(0.5, 0.5), means=(0.0, NAN), stds=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"^stds\[1\] must be a finite positive number, got 0.0"):
        kl_fits.GaussianMixture1D(weights=(0.5, 0.5), means=(0.0, 1.0), stds=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"^weights must sum to 1, got \(0.5, 0.6\)"):
        kl_fits.GaussianMixture1D(weights=(0.5, 0.6), means=(0.0, 1.0), stds=(1.0, 1.0))
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


# === benchmarks/bench.py =============================================================================


@pytest.mark.parametrize("lr,error", [(-1.0, ValueError), (0.0, ValueError), (NAN, ValueError), ("fast", TypeError)])
def test_bench_run_checks_lr(lr, error):
    # before: Adam's "Invalid learning rate", after the data had been loaded
    with pytest.raises(error, match="^lr must be a"):
        bench.run(lr=lr)



# === Issue 19's independent check: the calls that passed silently or failed unclearly ================


def _channel(**change):
    F = torch.float64
    parts = dict(cov_x=torch.eye(4, dtype=F), A=torch.zeros(2, 4, dtype=F), logvar=torch.zeros(2, dtype=F),
                 W=torch.zeros(4, 2, dtype=F), b=torch.zeros(4, dtype=F), variance=1.0) | change
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
    (lambda: _channel(variance=-1.0), ValueError, "^variance must be a finite positive number"),
    (lambda: _channel(A=torch.zeros(3, 4, dtype=torch.float64)), ValueError, r"^A must have shape \(2, 4\)"),
    (lambda: diagnostics.spectrum_explorer(torch.rand(784), {}, variance_range=(0, 10.0)), ValueError,
     r"^variance_range must lie above 0"),
    (lambda: diagnostics.spectrum_explorer(torch.rand(784), {}, variance_range=(2.0, 10.0)), ValueError,
     "^variance_range must contain 1"),
    (lambda: closed_form_kl.kl_explorer(logvar_range=(-3, INF)), ValueError, r"^logvar_range\[1\] must be a finite"),
    (lambda: closed_form_kl.kl_explorer(mu_range=(2, -2)), ValueError, "^mu_range must have lo < hi"),
    (lambda: closed_form_kl.kl_explorer(mu_range=(1, 2, 3)), ValueError, r"^mu_range must be a pair \(lo, hi\), got"),
    (lambda: closed_form_kl.kl_explorer(mu_range=2.0), TypeError, r"^mu_range must be a pair \(lo, hi\), got float"),
    (lambda: closed_form_kl.kl_explorer(mu_range=(1, 2)), ValueError, "^mu_range must contain 0"),
])
def test_issue_19_bad_calls_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_evidence_explorer_says_it_needs_two_units():
    model = linear_gaussian.LinearGaussian.random(3, 5, 1.0, generator=torch.Generator().manual_seed(0))
    z = torch.zeros(3, dtype=F64)
    with pytest.raises(ValueError, match="needs J = 2 latent units, got"):
        bayes_rewrite.evidence_explorer(model, torch.zeros(5, dtype=F64), z, z)
