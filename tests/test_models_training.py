"""vae_lib.models and vae_lib.training: shapes, the reparameterisation, a tiny training run, checkpoints."""
from __future__ import annotations

import math

import pytest
import torch

import vae_lib
from vae_lib import checkpoints as C
from vae_lib import data as D
from vae_lib import divergences
from vae_lib import objectives as O
from vae_lib import runtime as R
from vae_lib import training as T
from vae_lib.models import VAE, AutoEncoder, ModelConfig, reparameterize

SMALL = ModelConfig(input_dim=784, hidden_dim=64, latent_dim=5)


@pytest.fixture(scope="module")
def images():
    return D.load_embedded_mnist().images


def small_vae(seed=0, config=SMALL):
    R.seed_everything(seed)
    return VAE(config)


# --- Models ---------------------------------------------------------------------------------


def test_vae_shapes_and_encoder_split():
    model = small_vae()
    x = torch.rand(3, 784)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 5)
    head = model.encoder_head(model.encoder_body(x))
    torch.testing.assert_close(torch.cat([mu, logvar], -1), head)  # first J outputs are mu, the rest logvar
    logits, mu2, logvar2 = model(x)
    assert logits.shape == (3, 784)
    torch.testing.assert_close(mu2, mu)
    samples = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 784) and 0 <= float(samples.min()) and float(samples.max()) <= 1


def test_default_config_is_the_reference_model():
    model = VAE()
    assert (model.config.input_dim, model.config.hidden_dim, model.config.latent_dim) == (784, 400, 20)
    # 784*400+400 + 400*40+40 (encoder) + 20*400+400 + 400*784+784 (decoder)
    assert sum(p.numel() for p in model.parameters()) == 784 * 400 + 400 + 400 * 40 + 40 + 20 * 400 + 400 + \
        400 * 784 + 784


def test_reparameterize_is_mu_plus_sigma_eps_with_the_same_noise():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    eps = torch.randn(4, 3, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(z, mu + vae_lib.params.logvar_to_std(logvar) * eps)


def test_reparameterize_has_the_right_distribution_and_gradients():
    S = 20_000
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.5, -1.0], requires_grad=True)
    z = reparameterize(mu.expand(S, 2), logvar.expand(S, 2), torch.Generator().manual_seed(0))
    std = torch.exp(0.5 * logvar.detach())
    # sample mean within 5 standard errors (std / sqrt(S)) of mu
    assert bool(((z.detach().mean(0) - mu.detach()).abs() < 5 * std / math.sqrt(S)).all())
    z.mean(0).sum().backward()  # d mean(z)/d mu = 1; d/d logvar = mean(eps) sigma / 2
    torch.testing.assert_close(mu.grad, torch.ones(2))
    assert bool((logvar.grad.abs() < 5 * 0.5 * std / math.sqrt(S)).all())


def test_autoencoder_shapes():
    ae = AutoEncoder(SMALL)
    x = torch.rand(2, 784)
    assert ae.code(x).shape == (2, 5) and ae(x).shape == (2, 784)


# --- Seeding and devices -------------------------------------------------------------------------


def fake_accelerators(monkeypatch, *, cuda: bool, mps: bool) -> None:
    """Pretend this machine has (or lacks) CUDA and MPS, whatever it really has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("cuda,mps,expected", [
    (True, True, "cuda"),  # cuda first
    (True, False, "cuda"),
    (False, True, "mps"),  # then mps
    (False, False, "cpu"),  # then cpu
])
def test_auto_device_picks_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    fake_accelerators(monkeypatch, cuda=cuda, mps=mps)
    assert R.choose_device("auto") == torch.device(expected)
    assert R.choose_device() == torch.device(expected)  # "auto" is the default


@pytest.mark.parametrize("cuda,mps", [(False, False), (True, True)])
def test_cpu_is_always_available(monkeypatch, cuda, mps):
    fake_accelerators(monkeypatch, cuda=cuda, mps=mps)
    assert R.choose_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "mps"])
def test_an_available_device_named_explicitly_is_returned(monkeypatch, name):
    fake_accelerators(monkeypatch, cuda=name == "cuda", mps=name == "mps")
    assert R.choose_device(name) == torch.device(name)


@pytest.mark.parametrize("name,other", [("cuda", "mps"), ("mps", "cuda")])
def test_an_unavailable_device_named_explicitly_is_a_clear_error(monkeypatch, name, other):
    # the other accelerator being present must not make this one count as available
    fake_accelerators(monkeypatch, cuda=other == "cuda", mps=other == "mps")
    with pytest.raises(ValueError, match=rf"^device='{name}' is not available on this machine; use 'auto' or 'cpu'"):
        R.choose_device(name)


def test_an_unknown_device_name_is_refused():
    with pytest.raises(ValueError, match="device must be one of"):
        R.choose_device("tpu")


def test_seed_everything_returns_a_seeded_generator():
    g = R.seed_everything(3)
    a = torch.randn(3)
    assert torch.equal(torch.randn(3, generator=g), torch.randn(3, generator=torch.Generator().manual_seed(3)))
    R.seed_everything(3)
    assert torch.equal(torch.randn(3), a)
    with pytest.raises(TypeError, match="seed must be an int"):
        R.seed_everything(1.5)


def test_set_threads():
    before = torch.get_num_threads()
    try:
        assert R.set_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="^n must be a positive integer, got 0"):
            R.set_threads(0)
        for bad, kind in ((2.0, "float"), ("2", "str"), (True, "bool")):  # a wrong type: TypeError
            with pytest.raises(TypeError, match=f"^n must be an int, got {kind}"):
                R.set_threads(bad)
    finally:
        torch.set_num_threads(before)


# --- Training ------------------------------------------------------------------------------------


def test_a_tiny_training_run_lowers_the_loss_and_records_every_term(images):
    model = small_vae()
    h = T.fit(model, T.vae_objective(), images[:300], epochs=3, batch_size=32, x_heldout=images[300:400],
              progress=False)
    assert sorted(h.keys()) == sorted(f"{p}/{t}" for p in ("train", "heldout")
                                      for t in ("loss", "reconstruction", "kl"))
    assert all(len(h[k]) == 3 for k in h.keys())
    # from ~530 nats per image at initialisation; the fall is > 100 nats in 3 epochs here
    assert h["train/loss"][-1] < h["train/loss"][0] - 50
    assert h["heldout/loss"][-1] < h["heldout/loss"][0]
    for prefix in ("train", "heldout"):
        for e in range(3):  # the per-epoch means are consistent: loss = reconstruction + kl
            assert h[f"{prefix}/loss"][e] == pytest.approx(h[f"{prefix}/reconstruction"][e] + h[f"{prefix}/kl"][e],
                                                           rel=1e-5)
    assert not model.training  # fit leaves the model in eval mode


def test_fit_without_heldout_and_extending_a_history(images):
    model = small_vae()
    h = T.fit(model, T.vae_objective(beta=0.5), images[:64], epochs=2, batch_size=32, progress=False)
    assert sorted(h.keys()) == ["train/kl", "train/loss", "train/reconstruction"]
    for e in range(2):
        assert h["train/loss"][e] == pytest.approx(h["train/reconstruction"][e] + 0.5 * h["train/kl"][e], rel=1e-5)
    T.fit(model, T.vae_objective(beta=0.5), images[:64], epochs=1, batch_size=32, history=h, progress=False)
    assert len(h["train/loss"]) == 3
    assert T.fit(model, T.vae_objective(), images[:64], epochs=0, progress=False).keys() == []


def test_seed_everything_makes_two_runs_identical(images):
    runs = []
    for _ in range(2):
        model = small_vae(seed=11)
        h = T.fit(model, T.vae_objective(), images[:96], epochs=2, batch_size=32, seed=5, progress=False)
        runs.append((model.state_dict(), h.terms))
    (w1, h1), (w2, h2) = runs
    assert h1 == h2
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    # and a different seed changes the result
    other = small_vae(seed=12)
    T.fit(other, T.vae_objective(), images[:96], epochs=2, batch_size=32, seed=5, progress=False)
    assert not torch.equal(other.state_dict()["decoder.0.weight"], w1["decoder.0.weight"])


def test_other_objectives(images):
    x = images[:40]
    model = small_vae()
    with torch.no_grad():
        t = T.source_eq8_objective()(model, x)
    logits, mu, logvar = model(x, generator=torch.Generator().manual_seed(0))  # noise differs; KL does not
    torch.testing.assert_close(t.kl, divergences.kl_diag_gaussian_to_standard_normal(mu, logvar))
    assert float(t.loss) == pytest.approx(float(t.reconstruction + t.kl), rel=1e-6)
    ae = AutoEncoder(SMALL)
    t = T.ae_objective()(ae, x)
    torch.testing.assert_close(t.loss, -O.bernoulli_log_likelihood(x, ae(x)))
    # evaluate batches by index: the per-example mean does not depend on the batch size
    torch.testing.assert_close(torch.tensor(T.evaluate(ae, T.ae_objective(), x, batch_size=7).loss),
                               t.loss, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        T.vae_objective("poisson")
    # one terms type: an objective returning a dict is refused with a message that names the type
    with pytest.raises(TypeError, match=r"^objective\(model, x\) must be a vae_lib.objectives.ElboTerms, got dict"):
        T.evaluate(ae, lambda m, xb: {"loss": m(xb).sum()}, x)


def test_fit_rejects_bad_arguments(images):
    model = small_vae()
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        T.fit(model, T.vae_objective(), images[:10], epochs=1, batch_size=0, progress=False)
    with pytest.raises(TypeError, match="x_train must have a floating-point dtype"):
        T.fit(model, T.vae_objective(), (images[:10] * 255).to(torch.uint8), epochs=1, progress=False)
    with pytest.raises(ValueError, match="x_heldout contains NaN"):
        T.fit(model, T.vae_objective(), images[:10], epochs=1, batch_size=10, x_heldout=torch.full((2, 784), math.nan),
              progress=False)


# --- Checkpoints ---------------------------------------------------------------------------------


def test_checkpoint_round_trip_is_exact(tmp_path, images):
    model = small_vae(seed=1)
    h = T.fit(model, T.vae_objective(), images[:64], epochs=1, batch_size=32, progress=False)
    path = tmp_path / "ckpt" / "vae.pt"
    C.save_checkpoint(path, model, h)
    assert [p.name for p in path.parent.iterdir()] == ["vae.pt"]  # no temporary file left behind
    fresh = small_vae(seed=2)
    loaded = C.load_checkpoint(path, fresh)
    assert loaded.terms == h.terms
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    # without a history an empty one comes back
    C.save_checkpoint(path, model)
    assert C.load_checkpoint(path, fresh).terms == {}


def test_checkpoint_failure_during_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    model = small_vae(seed=1)
    path = tmp_path / "vae.pt"
    C.save_checkpoint(path, model)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        C.save_checkpoint(path, small_vae(seed=2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["vae.pt"]
    # a first save that fails leaves nothing at all
    with pytest.raises(OSError):
        C.save_checkpoint(tmp_path / "other.pt", model)
    assert [p.name for p in tmp_path.iterdir()] == ["vae.pt"]


def test_checkpoint_refuses_the_wrong_model_kind(tmp_path):
    path = tmp_path / "vae.pt"
    C.save_checkpoint(path, small_vae())
    with pytest.raises(ValueError, match="checkpoint holds a VAE, but model is a AutoEncoder"):
        C.load_checkpoint(path, AutoEncoder(SMALL))


def test_fit_without_progress_bar_never_touches_tqdm():
    """With the bar off (CI, VAE_LIB_NO_PROGRESS) fit must not import tqdm.auto: without ipywidgets, which
    the book does not require, tqdm.auto writes a warning to stderr, and nbval fails the cell on it."""
    import subprocess
    import sys

    code = ("import sys, torch, vae_lib\n"
            "from vae_lib.training import fit, ae_objective\n"
            "m = vae_lib.AutoEncoder(vae_lib.ModelConfig(784, 8, 2))\n"
            "fit(m, ae_objective(), torch.rand(16, 784), epochs=1, batch_size=8, progress=False)\n"
            "bad = [k for k in ('tqdm.auto', 'tqdm.autonotebook', 'tqdm.notebook') if k in sys.modules]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr[-2000:]


def test_no_progress_text_on_stderr_unasked(monkeypatch, capsys):
    """The default bar is a widget or nothing: tqdm's text fallback would be a pink stderr box in Jupyter."""
    import importlib.util
    import sys
    import types

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VAE_LIB_NO_PROGRESS", raising=False)
    assert T._progress_enabled(True) and not T._progress_enabled(False)

    class ZMQInteractiveShell:  # what a Jupyter kernel's get_ipython() returns
        pass

    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: ZMQInteractiveShell()))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else real_find_spec(name, *a))
    assert not T._progress_enabled(None)  # a kernel without ipywidgets: no bar
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert T._progress_enabled(None)  # with ipywidgets: the widget
    monkeypatch.setenv("VAE_LIB_NO_PROGRESS", "1")
    assert not T._progress_enabled(None)

    monkeypatch.delenv("VAE_LIB_NO_PROGRESS")
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    model = VAE(ModelConfig(input_dim=16, hidden_dim=8, latent_dim=2))
    T.fit(model, T.vae_objective(), torch.rand(16, 16), epochs=2, batch_size=8)  # outside a kernel: no bar
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lr=0.0), ValueError, "lr must be a finite positive number"),
    (dict(lr=-1e-3), ValueError, "lr must be a finite positive number"),
    (dict(lr=float("nan")), ValueError, "lr must be a finite positive number"),
    (dict(lr="fast"), TypeError, "lr must be a number"),
    (dict(objective=None), TypeError, "objective must be"),
    (dict(model="vae"), TypeError, "model must be a torch.nn.Module"),
    (dict(seed="zero"), TypeError, "seed must be an int"),
    (dict(history={}), TypeError, "history must be a vae_lib.training.History"),
    (dict(optimizer="adam"), TypeError, "optimizer must be a torch.optim.Optimizer"),
    (dict(epochs=True), TypeError, "epochs must be an int, got bool"),
    (dict(epochs=-1), ValueError, "epochs must be a non-negative integer"),
    (dict(batch_size=2.0), TypeError, "batch_size must be an int, got float"),
    (dict(on_epoch="print"), TypeError, "on_epoch must be a callable"),
    (dict(objective=T.Schedule(lambda epoch: "vae")), TypeError, "schedule's objective for epoch 0"),
    (dict(validate=1), TypeError, "validate must be a bool"),
])
def test_fit_refuses_bad_arguments_before_touching_the_model(images, kwargs, error, match):
    model = small_vae()
    before = [p.detach().clone() for p in model.parameters()]
    call = dict(model=model, objective=T.vae_objective(), x_train=images[:64], epochs=1, batch_size=32,
                progress=False) | kwargs
    with pytest.raises(error, match=match):
        T.fit(call.pop("model"), call.pop("objective"), call.pop("x_train"), **call)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_fit_warns_when_a_batch_exceeds_the_data(images):
    """Issue 19: one short batch per epoch is said, not silently run (the default batch of 128 on 8 rows)."""
    with pytest.warns(UserWarning, match="batch_size=128 exceeds the 8 rows of x_train: each epoch is one batch of 8"):
        T.fit(small_vae(), T.vae_objective(), images[:8], epochs=1, progress=False)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.fit(small_vae(), T.vae_objective(), images[:8], epochs=1, batch_size=8, progress=False)


def test_a_schedule_changes_the_objective_by_epoch_and_on_epoch_sees_each_epoch(images):
    """fit(Schedule(...)) in one call equals one fit per epoch, each with that epoch's objective, on one
    batch order (the same generator and optimizer); on_epoch runs after each epoch with the history."""
    betas = [0.0, 0.5, 1.0]
    seen = []
    a = small_vae(seed=4)
    h = T.fit(a, T.Schedule(lambda epoch: T.vae_objective(beta=betas[epoch])), images[:64], epochs=3,
              batch_size=16, progress=False, on_epoch=lambda epoch, history: seen.append((epoch, len(history["train/kl"]))))
    assert seen == [(0, 1), (1, 2), (2, 3)]
    b = small_vae(seed=4)
    optimizer = torch.optim.Adam(b.parameters(), lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(0)
    for beta in betas:  # the loop by hand: each epoch's objective on the order fit's generator gives
        order = torch.randperm(64, generator=g)
        b.train()
        for start in range(0, 64, 16):
            loss = T.vae_objective(beta=beta)(b, images[:64][order[start:start + 16]]).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    # and the loss it reports is each epoch's own objective: beta = 0 has loss = reconstruction
    assert h["train/loss"][0] == pytest.approx(h["train/reconstruction"][0])
    assert h["train/loss"][2] == pytest.approx(h["train/reconstruction"][2] + h["train/kl"][2])
