"""The training-loop benchmark: ``python benchmarks/bench.py [--json]``.

It trains the reference VAE (784-400-20, batch 128, Adam with lr 1e-3) two ways
on the same data, in the same process, alternating runs so that other jobs on
a shared machine slow both alike:

* ``vae_lib``: :func:`vae_lib.training.fit` (data in one tensor on the device,
  index batches, fused Adam, no per-batch host sync);
* ``baseline``: the idiomatic loop of pytorch/examples: a per-sample
  ``Dataset``, a ``DataLoader``, ``loss.item()`` every batch, plain Adam.

FLOPs are counted explicitly (:func:`flops_per_sample`): only the matrix
products of the Linear layers, which is where a training step spends its
arithmetic. ``gemm_gflops`` times exactly those products, at the step's shapes
and on the same threads, so ``train_gflops / gemm_gflops`` is the fraction of
the machine's matmul throughput that the whole loop (loss, activations,
optimiser, Python) achieves. A final run of ``--epochs`` epochs reports the
held-out negative ELBO it reaches, so speed is never bought with quality.

``--json`` prints one JSON object as the last line: ``samples_per_s`` and
``baseline_samples_per_s`` (medians of ``--repeats`` alternated runs, wall
clock), ``speedup``, ``gemm_gflops``, ``train_gflops`` (= samples_per_s x
flops_per_sample), ``fraction_of_gemm``, ``heldout_neg_elbo`` (nats per image,
one sample, after ``epochs`` epochs taking ``train_seconds``), the runs behind
each median, the 1-minute load average, ``device``, ``threads`` and ``torch``.
A tiny run for tests: ``--epochs 1 --limit 512 --repeats 1 --throughput-epochs 1``;
full-MNIST size on a GPU: ``--synthetic-n 60000 --epochs 10``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch import Tensor, nn

from vae_lib._checks import check_positive_number
from vae_lib.data import load_dataset
from vae_lib.evaluation import heldout_elbo
from vae_lib.models import VAE, ModelConfig
from vae_lib.objectives import negative_elbo
from vae_lib.runtime import choose_device, set_threads
from vae_lib.training import fit, vae_objective

# torch's own choice, before the book's policy changes it: what the reference loop runs with by default
TORCH_DEFAULT_THREADS = torch.get_num_threads()


def linear_shapes(config: ModelConfig = ModelConfig()) -> list[tuple[int, int]]:
    """(in, out) of the VAE's Linear layers, in forward order: encoder body, head, decoder."""
    d, h, j = config.input_dim, config.hidden_dim, config.latent_dim
    return [(d, h), (h, 2 * j), (j, h), (h, d)]


def flops_per_sample(config: ModelConfig = ModelConfig()) -> int:
    """Matrix-product FLOPs of one training step, per example (a multiply-add counts 2).

    forward:  2 * sum(in * out) over the Linear layers;
    backward: weight gradients, 2 * sum(in * out), plus input gradients,
              2 * sum(in * out) over every layer but the first (the data need none).
    For 784-400-20: 1,302,400 forward + 1,977,600 backward = 3,280,000, i.e. 2.52x
    the forward pass (the rule of thumb "backward = 2x forward" would say 3.0x).
    Elementwise work (activations, loss, Adam) is not counted: it is under 1%.
    """
    macs = [i * o for i, o in linear_shapes(config)]
    return 2 * sum(macs) + 2 * sum(macs) + 2 * sum(macs[1:])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def gemm_gflops(
    config: ModelConfig = ModelConfig(), batch_size: int = 128, device: torch.device | str = "cpu",
    repeats: int = 7, seconds: float = 0.15,
) -> float:
    """Measured GFLOP/s of exactly the matrix products counted by :func:`flops_per_sample`.

    For each Linear layer (in, out): ``addmm`` (B, in) @ (in, out) forward, the
    weight gradient (out, B) @ (B, in), and, except for the first layer, the
    input gradient (B, out) @ (out, in). Median over ``repeats`` timings.
    """
    device = torch.device(device)
    g = torch.Generator().manual_seed(0)
    products = []
    for k, (i, o) in enumerate(linear_shapes(config)):
        shapes = ((batch_size, i), (o, i), (o,), (batch_size, o))
        x, w, b, dy = (torch.randn(*s, generator=g).to(device) for s in shapes)
        products.append(lambda x=x, w=w, b=b: torch.addmm(b, x, w.t()))
        products.append(lambda x=x, dy=dy: dy.t().mm(x))
        if k > 0:
            products.append(lambda w=w, dy=dy: dy.mm(w))

    def step() -> None:
        for p in products:
            p()

    for _ in range(5):  # warm-up: first calls pick kernels and allocate
        step()
    _sync(device)
    t = time.perf_counter()
    step()
    _sync(device)
    inner = max(1, int(seconds / max(time.perf_counter() - t, 1e-7)))
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            step()
        _sync(device)
        rates.append(inner * flops_per_sample(config) * batch_size / (time.perf_counter() - t) / 1e9)
    return statistics.median(rates)


def synthetic_images(n: int, seed: int = 0) -> Tensor:
    """n images (n, 784) in [0, 1]: embedded training digits, each shifted by up to 2 pixels.

    Stands in for full MNIST (60,000 images) where it cannot be downloaded; the
    content only has to look like digits, the size is what the benchmark needs.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    base = load_dataset("embedded").train.images
    g = torch.Generator().manual_seed(seed)
    x = base[torch.randint(base.shape[0], (n,), generator=g)].reshape(n, 28, 28)
    shift = torch.randint(-2, 3, (n, 2), generator=g)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            rows = ((shift[:, 0] == dy) & (shift[:, 1] == dx)).nonzero().squeeze(1)
            x[rows] = torch.roll(x[rows], shifts=(dy, dx), dims=(1, 2))
    return x.reshape(n, 784).contiguous()


class _PerSampleDataset(torch.utils.data.Dataset):
    """The idiomatic Dataset: one image per ``__getitem__`` call."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


def train_baseline(model: nn.Module, x: Tensor, epochs: int, batch_size: int = 128, lr: float = 1e-3,
                   seed: int = 0) -> float:
    """The pytorch/examples loop: DataLoader over a per-sample Dataset; returns the mean loss of the last epoch."""
    device = next(model.parameters()).device
    loader = torch.utils.data.DataLoader(_PerSampleDataset(x.cpu()), batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    total = 0.0
    for _ in range(epochs):
        total = 0.0
        for xb in loader:
            xb = xb.to(device)
            optimizer.zero_grad()
            logits, mu, logvar = model(xb)
            loss = negative_elbo(xb, logits, mu, logvar).loss
            loss.backward()
            total += loss.item() * xb.shape[0]
            optimizer.step()
    return total / x.shape[0]


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this platform
        return None


def _timed(device: torch.device, train) -> float:
    _sync(device)
    t = time.perf_counter()
    train()
    _sync(device)
    return time.perf_counter() - t


def run(
    epochs: int = 40, throughput_epochs: int = 2, repeats: int = 5, batch_size: int = 128, lr: float = 1e-3,
    limit: int | None = None, synthetic_n: int | None = None, device: str = "auto", threads: int | None = None,
    seed: int = 0, defaults: bool = False,
) -> dict:
    """Run the benchmark and return its figures (see the module docstring and ``--help``)."""
    for name, value, low in (("epochs", epochs, 0), ("throughput_epochs", throughput_epochs, 1),
                             ("repeats", repeats, 1), ("batch_size", batch_size, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    for name, value in (("limit", limit), ("synthetic_n", synthetic_n), ("threads", threads)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    check_positive_number("lr", lr)  # Adam's own error would name no argument of run or of the CLI
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    threads = set_threads(threads)
    # defaults: the baseline at torch's default threads (vae_lib at the book's policy unless threads is
    # given); otherwise both loops on the same threads
    base_threads = TORCH_DEFAULT_THREADS if defaults else threads
    dev = choose_device(device)
    split = load_dataset("embedded")
    x = synthetic_images(synthetic_n, seed) if synthetic_n is not None else split.train.images
    if limit is not None:
        x = x[:limit]
    x, x_heldout = x.to(dev), split.heldout.images.to(dev)
    n = x.shape[0]

    def fresh() -> VAE:
        torch.manual_seed(seed)
        return VAE().to(dev)

    def ours(e: int) -> VAE:
        model = fresh()
        fit(model, vae_objective(), x, epochs=e, batch_size=batch_size, lr=lr, seed=seed, progress=False)
        return model

    load_before = _load_average()
    # warm-up (first calls allocate and pick kernels), then alternate the two loops and the
    # matmul timing, so that other jobs on a shared machine weigh on all three alike
    warm = x[: min(n, 4 * batch_size)]
    fit(fresh(), vae_objective(), warm, epochs=1, batch_size=batch_size, progress=False)
    train_baseline(fresh(), warm, 1, batch_size, lr, seed)
    ours_rates, base_rates, gemm_rates = [], [], []
    for _ in range(repeats):
        torch.set_num_threads(threads)
        ours_rates.append(throughput_epochs * n / _timed(dev, lambda: ours(throughput_epochs)))
        torch.set_num_threads(base_threads)
        base_rates.append(throughput_epochs * n / _timed(
            dev, lambda: train_baseline(fresh(), x, throughput_epochs, batch_size, lr, seed)))
        torch.set_num_threads(threads)
        gemm_rates.append(gemm_gflops(ModelConfig(), batch_size, dev, repeats=3))
    samples_per_s, baseline = statistics.median(ours_rates), statistics.median(base_rates)
    gemm = statistics.median(gemm_rates)
    flops = flops_per_sample()
    train_gflops = samples_per_s * flops / 1e9

    train_seconds = neg_elbo = None  # JSON null when the quality run is skipped
    if epochs > 0:
        trained: list[VAE] = []
        train_seconds = round(_timed(dev, lambda: trained.append(ours(epochs))), 2)
        neg_elbo = round(heldout_elbo(trained[0], x_heldout, seed=seed).loss, 2)
    return {
        "samples_per_s": round(samples_per_s, 1),
        "baseline_samples_per_s": round(baseline, 1),
        "speedup": round(samples_per_s / baseline, 3),
        "gemm_gflops": round(gemm, 2),
        "train_gflops": round(train_gflops, 2),
        "fraction_of_gemm": round(train_gflops / gemm, 3),
        "flops_per_sample": flops,
        "heldout_neg_elbo": neg_elbo,
        "epochs": epochs,
        "train_seconds": train_seconds,
        "n_train": n,
        "data": f"synthetic-{synthetic_n}" if synthetic_n is not None else "embedded",
        "batch_size": batch_size,
        "lr": lr,
        "repeats": repeats,
        "throughput_epochs": throughput_epochs,
        "samples_per_s_runs": [round(r, 1) for r in ours_rates],
        "baseline_samples_per_s_runs": [round(r, 1) for r in base_rates],
        "gemm_gflops_runs": [round(r, 2) for r in gemm_rates],
        "load_average": [load_before, _load_average()],  # 1-minute load, before and after: is the machine shared?
        "device": str(dev) if dev.type != "cuda" else f"cuda ({torch.cuda.get_device_name(dev)})",
        "threads": threads,
        "baseline_threads": base_threads,
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python benchmarks/bench.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.add_argument("--epochs", type=int, default=40, help="epochs of the quality run (held-out -ELBO); 0 skips it")
    p.add_argument("--throughput-epochs", type=int, default=2, help="epochs per timed run of each loop")
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each loop, alternated; medians reported")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--synthetic-n", type=int, default=None,
                   help="train on N synthetic digit images instead (60000 is full-MNIST size)")
    p.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the book's policy)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--defaults", action="store_true",
                   help="each loop at its own default threads: vae_lib's policy, torch's default for the baseline")
    a = p.parse_args(argv)
    result = run(a.epochs, a.throughput_epochs, a.repeats, a.batch_size, a.lr, a.limit, a.synthetic_n,
                 a.device, a.threads, a.seed, a.defaults)
    r = result
    print(f"device {r['device']}, {r['threads']} thread(s), torch {r['torch']}, {r['n_train']} images ({r['data']})")
    print(f"vae_lib.fit      {r['samples_per_s']:>10.0f} samples/s  {r['train_gflops']:.1f} GFLOP/s "
          f"({100 * r['fraction_of_gemm']:.0f}% of the matmul throughput, {r['gemm_gflops']:.1f} GFLOP/s)")
    print(f"DataLoader loop  {r['baseline_samples_per_s']:>10.0f} samples/s  on {r['baseline_threads']} thread(s) "
          f"(vae_lib is {r['speedup']:.2f}x)")
    if r["epochs"]:
        print(f"{r['epochs']} epochs in {r['train_seconds']:.1f} s: "
              f"held-out -ELBO {r['heldout_neg_elbo']:.1f} nats/image")
    if a.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
