"""The benchmark (benchmarks/bench.py) and the training loop's fast path (vae_lib.training.fit).

No timing is asserted: the benchmark's figures depend on the machine and its
load. The tests check the FLOP count against torch's own FLOP counter, the
JSON schema and its internal consistency on a tiny run, and that the fast path
of ``fit`` computes exactly what the checked public functions compute.
"""
from __future__ import annotations

import json
import math
import runpy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import bench  # benchmarks/bench.py (tests/conftest.py puts it on the path)

from vae_lib.data import load_dataset
from vae_lib.models import VAE, AutoEncoder, ModelConfig
from vae_lib.objectives import negative_elbo
from vae_lib.training import _default_optimizer, ae_objective, fit, source_eq8_objective, vae_objective

SMALL = ModelConfig(input_dim=50, hidden_dim=30, latent_dim=4)


@pytest.fixture(scope="module")
def images():
    return load_dataset("embedded").train.images[:128]


@pytest.fixture
def keep_threads():
    """The benchmark sets torch's thread count; restore it for the other tests."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


# --- The FLOP count -------------------------------------------------------------------------


@pytest.mark.parametrize("config", [ModelConfig(), SMALL])
def test_flops_per_sample_equals_torch_flop_counter_on_a_training_step(config):
    # independent reference: torch counts the FLOPs of every matmul it actually runs
    model, b = VAE(config), 16
    x = torch.rand(b, config.input_dim)
    with FlopCounterMode(display=False) as counter:
        logits, mu, logvar = model(x)
        negative_elbo(x, logits, mu, logvar).loss.backward()
    assert bench.flops_per_sample(config) == counter.get_total_flops() / b
    if config == ModelConfig():
        assert bench.flops_per_sample(config) == 3_280_000  # the figure quoted in the docstring


@pytest.mark.parametrize("config", [ModelConfig(), SMALL])
def test_linear_shapes_are_the_models_layers_in_forward_order(config):
    model = VAE(config)
    layers = [model.encoder_body[0], model.encoder_head, model.decoder[0], model.decoder[2]]
    assert bench.linear_shapes(config) == [(m.in_features, m.out_features) for m in layers]
    assert sum(i * o for i, o in bench.linear_shapes(config)) == sum(
        m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)
    )


def test_gemm_gflops_is_a_positive_finite_rate(keep_threads):
    rate = bench.gemm_gflops(SMALL, batch_size=8, repeats=2, seconds=0.005)
    assert math.isfinite(rate) and rate > 0


# --- Synthetic data --------------------------------------------------------------------------


def test_synthetic_images_are_shifted_embedded_digits():
    x = bench.synthetic_images(300, seed=1)
    assert x.shape == (300, 784) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.equal(x, bench.synthetic_images(300, seed=1))
    assert not torch.equal(x, bench.synthetic_images(300, seed=2))
    # a cyclic shift keeps every pixel value, so each image's sorted pixels are some digit's sorted pixels
    base = torch.sort(load_dataset("embedded").train.images, dim=1).values
    mine = torch.sort(x, dim=1).values
    nearest = torch.cdist(mine, base).argmin(dim=1)
    assert torch.equal(mine, base[nearest])


def test_synthetic_images_rejects_a_bad_size():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        bench.synthetic_images(0)


# --- The benchmark command ---------------------------------------------------------------------


TINY = ["--json", "--epochs", "1", "--limit", "512", "--repeats", "1", "--throughput-epochs", "1", "--threads", "1"]


def test_bench_prints_one_consistent_json_object_last(capsys, keep_threads):
    bench.main(TINY)
    lines = capsys.readouterr().out.strip().splitlines()
    r = json.loads(lines[-1])
    for key in ("samples_per_s", "baseline_samples_per_s", "gemm_gflops", "train_gflops", "heldout_neg_elbo"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, key
    assert r["device"] == "cpu" and r["threads"] == 1 and r["torch"] == torch.__version__
    assert r["n_train"] == 512 and r["data"] == "embedded" and r["flops_per_sample"] == 3_280_000
    assert len(r["samples_per_s_runs"]) == len(r["baseline_samples_per_s_runs"]) == len(r["gemm_gflops_runs"]) == 1
    assert len(r["load_average"]) == 2
    # the derived figures are what their definitions say (up to the 2-3 digit rounding of the JSON)
    assert r["train_gflops"] == pytest.approx(r["samples_per_s"] * r["flops_per_sample"] / 1e9, rel=1e-3)
    assert r["fraction_of_gemm"] == pytest.approx(r["train_gflops"] / r["gemm_gflops"], rel=1e-2)
    assert r["speedup"] == pytest.approx(r["samples_per_s"] / r["baseline_samples_per_s"], rel=1e-2)
    # one epoch on 512 images: far from trained, but below an untrained decoder's 784 log 2 nats
    assert r["heldout_neg_elbo"] < 784 * math.log(2)


def test_bench_runs_as_a_module_on_synthetic_data(capsys, keep_threads, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/bench.py", *TINY[:-4], "--synthetic-n", "300", "--epochs", "0",
                                      "--threads", "1"])
    runpy.run_path(str(Path(bench.__file__)), run_name="__main__")  # as `python benchmarks/bench.py` runs it
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["data"] == "synthetic-300" and r["n_train"] == 300
    assert r["heldout_neg_elbo"] is None and r["train_seconds"] is None  # --epochs 0 skips the quality run


@pytest.mark.parametrize("kwargs, match", [({"epochs": -1}, "epochs"), ({"repeats": 0}, "repeats"),
                                           ({"limit": 0}, "limit"), ({"batch_size": 0}, "batch_size"),
                                           ({"synthetic_n": -5}, "synthetic_n"), ({"threads": 0}, "threads")])
def test_bench_run_rejects_bad_arguments(kwargs, match, keep_threads):
    with pytest.raises(ValueError, match=match):
        bench.run(**kwargs)


# --- fit's fast path: the same numbers as the checked public functions --------------------------


def _train(model_cls, objective, x, validate):
    torch.manual_seed(0)
    model = model_cls()
    history = fit(model, objective, x, epochs=2, batch_size=32, x_heldout=x[:64], validate=validate,
                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-3))
    return [p.detach().clone() for p in model.parameters()], history.terms


class _HalfLogitsVAE(VAE):
    """A subclass that overrides forward: fit must call it, with or without value scans."""

    def forward(self, x, generator=None):
        logits, mu, logvar = super().forward(x, generator)
        return 0.5 * logits, mu, logvar


@pytest.mark.parametrize("model_cls, make_objective", [
    (VAE, vae_objective),
    (VAE, lambda: vae_objective("gaussian", beta=2.0, variance=0.5)),
    (VAE, source_eq8_objective),
    (AutoEncoder, ae_objective),
    (_HalfLogitsVAE, vae_objective),
])
def test_value_scans_change_no_number(images, model_cls, make_objective):
    fast_params, fast_history = _train(model_cls, make_objective(), images, validate=False)
    slow_params, slow_history = _train(model_cls, make_objective(), images, validate=True)
    assert all(torch.equal(a, b) for a, b in zip(fast_params, slow_params))
    assert fast_history == slow_history


def test_fit_scans_values_once_unless_asked_for_every_batch(images, monkeypatch):
    import vae_lib._checks as checks

    scanned = []
    real = checks.check_values
    monkeypatch.setattr(checks, "check_values", lambda name, t: scanned.append(name) or real(name, t))
    fit(VAE(), vae_objective(), images, epochs=2, batch_size=64)
    assert scanned == ["x_train"]  # where the data enter, and nowhere in the batches
    scanned.clear()
    fit(VAE(), vae_objective(), images, epochs=2, batch_size=64, validate=True)
    batches = 2 * -(-len(images) // 64)
    assert scanned.count("x_train") == 1 and len(scanned) > batches  # x, logits, mu, logvar... in every batch
    assert checks.validation_enabled(), "fit must restore the global setting"


def test_fit_checks_the_whole_data_set_once_for_a_bernoulli_likelihood(images):
    x = images.clone()
    x[-1, 0] = 1.5  # in the last batch only: the first (checked) batch alone would not see it
    with pytest.raises(ValueError, match=r"x_train must lie in \[0, 1\]"):
        fit(VAE(), vae_objective(), x, epochs=1, batch_size=64)
    fit(VAE(), vae_objective("gaussian"), x, epochs=1, batch_size=64)  # a Gaussian decoder has no range


def test_fit_still_rejects_bad_arguments_on_the_first_batch(images):
    with pytest.raises(ValueError, match="beta"):
        fit(VAE(), vae_objective(beta=-1.0), images, epochs=1)
    with pytest.raises(ValueError, match="NaN"):
        fit(VAE(), vae_objective(), torch.full((8, 784), float("nan")), epochs=1)


def test_fit_reports_divergence_once_per_epoch(images):
    model = VAE()
    # an infinite step makes every parameter inf/NaN after the first (checked) batch
    with pytest.raises(ValueError, match="training diverged in epoch 1"):
        fit(model, vae_objective(), images, epochs=1, batch_size=64,
            optimizer=torch.optim.SGD(model.parameters(), lr=float("inf")))


def test_default_optimizer_is_fused_adam_when_available_and_falls_back(monkeypatch):
    model = VAE(SMALL)
    opt = _default_optimizer(model, 1e-3)
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["lr"] == 1e-3
    real = torch.optim.Adam

    def no_fused(params, lr, **kwargs):
        if kwargs.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be ... supported devices")
        return real(params, lr=lr, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", no_fused)
    assert not _default_optimizer(model, 1e-3).defaults.get("fused")


# --- The thread policy -----------------------------------------------------------------------------


@pytest.mark.parametrize("cores, busy, expected", [
    (2, 0.1, 2),   # an idle 2-core machine (Colab's CPU runtime): both cores
    (2, 0.7, 1),   # the other core mostly busy: one thread, so no OpenMP thread waits for a busy core
    (2, 3.0, 1),   # overloaded: still one
    (4, 1.0, 3),   # a hosted 4-vCPU runner with one job already running
    (64, 0.0, 8),  # capped: small matrices gain nothing from more threads
])
@pytest.mark.parametrize("source", ["sampled", "load average"])
def test_thread_policy_uses_the_free_cores(cores, busy, expected, source, monkeypatch, keep_threads):
    from vae_lib import runtime
    from vae_lib.runtime import set_threads

    monkeypatch.delenv("VAE_LIB_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    if source == "sampled":  # Linux: what the other processes use now; the load average is not read
        monkeypatch.setattr(runtime, "_busy_elsewhere", lambda: busy)
        monkeypatch.setattr("os.getloadavg", lambda: (99.0, 99.0, 99.0))
    else:  # no /proc/stat: the load average
        monkeypatch.setattr(runtime, "_busy_elsewhere", lambda: None)
        monkeypatch.setattr("os.getloadavg", lambda: (busy, busy, busy))
    assert set_threads() == expected == torch.get_num_threads()
    monkeypatch.setenv("VAE_LIB_THREADS", "3")  # the environment overrides the policy
    assert set_threads() == 3 == torch.get_num_threads()
    monkeypatch.setenv("VAE_LIB_THREADS", "two")
    with pytest.raises(ValueError, match="VAE_LIB_THREADS must be a positive integer"):
        set_threads()


@pytest.mark.parametrize("cores, load, expected", [(2, 0.1, 2), (2, 0.7, 1), (2, 3.0, 1), (4, 1.0, 3), (4, 1.5, 3),
                                                  (64, 0.0, 64)])  # no cap of 8 here: that is set_threads'
def test_the_benchmarks_load_average_pick_rounds_as_the_policy_does(cores, load, expected, monkeypatch):
    """benchmarks/thread_policy.py's 0.2 policy keeps no rounding rule of its own: it is runtime.cores_left's."""
    import thread_policy  # benchmarks/thread_policy.py (tests/conftest.py puts benchmarks/ on the path)

    from vae_lib import runtime

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr("os.getloadavg", lambda: (load, load, load))
    assert thread_policy.load_average_pick() == expected == runtime.cores_left(cores, load)
    monkeypatch.setattr(runtime, "cores_left", lambda cores, busy: -7)  # the benchmark calls the one in runtime
    assert thread_policy.load_average_pick() == -7


def test_the_sampled_load_sees_another_process_at_once_and_not_this_one():
    """Issue 19: the load average lags (it still counted the benchmark's previous run); the sample does not."""
    import subprocess
    import sys

    from vae_lib import runtime

    if runtime._busy_elsewhere(0.05) is None:
        pytest.skip("no /proc/stat here")
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time
        time.sleep(0.3)
        assert runtime._busy_elsewhere() >= 0.7, "a busy loop in another process keeps about one core busy"
    finally:
        burner.kill()
        burner.wait()
    start = runtime._cpu_jiffies(set(range(1024)))
    assert start is not None and start[0] <= start[1]
