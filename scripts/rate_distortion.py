"""Train every model that chapter 8 (choosing the weight) places on the rate-distortion plane.

    .venv/bin/python scripts/rate_distortion.py            # about two and a half minutes on one core

* the beta sweep, seed 0: the reference VAE with the Gaussian decoder of chapter 6 (s0 = 0.1),
  trained on -L_beta for each beta of BETAS (the last is the beta hidden in source Eq. (8));
* the remedies for Eq. (8)'s collapse, seeds 0, 1, 2: Eq. (8) as printed, with KL annealing,
  with free bits;
* the sigma-VAE (a learnt decoder variance), seeds 0, 1, 2.

With ``--checks`` it instead trains, in a run of its own, the models behind chapter 8's checks of
those results, and writes vae_lib/_data/rate_distortion_checks.json: for seeds 0, 1, 2 the beta = 1
model after the reference epochs and after LONG_EPOCHS, and the sigma-VAE, each measured on the
held-out *and* the training digits; active units and rate for the betas of COLLAPSE_BETAS; and KL
annealing and free bits applied to the beta-loss at REMEDY_BETA, where plain training loses the code.

Otherwise it writes vae_lib/_data/rate_distortion.json (the measurements of
vae_lib.chapters.rate_distortion.measure on the embedded held-out digits, with the command, torch
version and CPU condition) and vae_lib/_data/rate_distortion_images.npz (for each beta, uint8
reconstructions of 8 held-out digits and decodings of 8 prior codes; beta_explorer_data reads them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("VAE_LIB_NO_PROGRESS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance import provenance  # noqa: E402  (scripts/ is on sys.path)

import vae_lib  # noqa: E402
from vae_lib.chapters import beta_sweep as bs  # noqa: E402
from vae_lib.chapters import diagnostics as dg  # noqa: E402
from vae_lib.chapters import rate_distortion as rd  # noqa: E402
from vae_lib.objectives import source_eq8_equivalent_variance  # noqa: E402

BETAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)  # and then Eq. (8)'s hidden beta
LONG_EPOCHS = 2 * vae_lib.training.REFERENCE.epochs  # is beta = 1 after the reference epochs still improving?
COLLAPSE_BETAS = (300.0, 400.0, 500.0, 700.0, 1000.0)  # around the linear VAE's threshold lambda_1 / s0^2
REMEDY_BETA = 500.0  # the smallest of COLLAPSE_BETAS at which plain training loses the code (in every seed, here)


def checks(seeds: list[int], x_train: torch.Tensor, x_heldout: torch.Tensor) -> dict:
    """The models behind chapter 8's frontier and collapse checks, each measured on both splits."""
    both = lambda m, v: {"heldout": rd.measure(m, x_heldout, variance=v),  # noqa: E731
                         "train": rd.measure(m, x_train, variance=v)}
    frontier, collapse, remedies = {}, {}, {}
    for seed in seeds:
        sigma, _ = rd.train_sigma_vae(x_train, seed)
        frontier[str(seed)] = {
            "beta1": both(rd.train_beta(1.0, x_train, seed), rd.S0**2),
            "beta1_long": both(rd.train_beta(1.0, x_train, seed, epochs=LONG_EPOCHS), rd.S0**2),
            "sigma": both(sigma, sigma.variance)}
        collapse[str(seed)] = {repr(b): {k: v for k, v in rd.measure(rd.train_beta(b, x_train, seed), x_heldout,
                                                                      variance=rd.S0**2).items()
                                         if k in ("rate", "active_units")} for b in COLLAPSE_BETAS}
        annealed, _ = rd.train_annealed(x_train, seed, beta=REMEDY_BETA)
        remedies[str(seed)] = {name: rd.measure(m, x_heldout, variance=rd.S0**2) for name, m in
                               {"annealed": annealed, "free_bits": rd.train_free_bits(x_train, seed, beta=REMEDY_BETA)}.items()}
        print(seed, frontier[str(seed)], collapse[str(seed)], remedies[str(seed)], flush=True)
    return {"long_epochs": LONG_EPOCHS, "frontier": frontier, "collapse": collapse,
            "remedy_beta": REMEDY_BETA, "remedies": remedies}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds of the remedies and the sigma-VAE")
    p.add_argument("--out", type=Path, default=bs.COMMITTED)
    p.add_argument("--images", type=Path, default=bs.IMAGES)
    p.add_argument("--checks", action="store_true", help="train the check models instead (see above)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    vae_lib.runtime.set_threads()
    split = vae_lib.data.load_dataset("embedded")
    x_train, x_heldout, labels = split.train.images, split.heldout.images, split.heldout.labels
    if args.checks:
        record = {**provenance("python scripts/rate_distortion.py --checks --seeds " + args.seeds),
                  **checks(seeds, x_train, x_heldout), "training": vars(vae_lib.training.REFERENCE)}
        record["seconds"] = round(time.perf_counter() - start)
        out = bs.CHECKS if args.out == bs.COMMITTED else args.out
        out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {out} in {record['seconds']} s")
        return
    d = x_train.shape[1]
    eq8_variance = source_eq8_equivalent_variance(d)
    betas = BETAS + (dg.hidden_beta(d, rd.S0**2),)
    pick = torch.stack([torch.nonzero(labels == k)[0, 0] for k in range(bs.N_EXPLORER)])
    originals = x_heldout[pick]
    z_prior = torch.randn(bs.N_EXPLORER, vae_lib.ModelConfig().latent_dim, generator=torch.Generator().manual_seed(7))

    sweep, recons, samples = {}, [], []
    for beta in betas:
        model = rd.train_beta(beta, x_train, seed=0)
        sweep[repr(beta)] = rd.measure(model, x_heldout, variance=rd.S0**2)
        r, s = rd.explorer_images(model, originals, z_prior)
        recons.append(r)
        samples.append(s)
        print("beta", beta, sweep[repr(beta)], flush=True)

    remedies, curves = {}, {}
    for seed in seeds:
        found = {"eq8": rd.train_eq8(x_train, seed), "free_bits": rd.train_free_bits(x_train, seed)}
        found["annealed"], curves[str(seed)] = rd.train_annealed(x_train, seed)
        remedies[str(seed)] = {k: rd.measure(m, x_heldout, variance=eq8_variance) for k, m in found.items()}
        print(seed, remedies[str(seed)], flush=True)

    sigma = {}
    for seed in seeds:
        model, variances = rd.train_sigma_vae(x_train, seed)
        row = rd.measure(model, x_heldout, variance=model.variance)
        train_recon = dg.reconstruct(model, x_train, sample=True, generator=torch.Generator().manual_seed(seed))
        row.update(variance=model.variance, variances=variances,
                   optimal_variance=rd.optimal_variance(x_train, train_recon))  # eq. optimal-variance
        sigma[str(seed)] = row
        print("sigma", seed, {k: v for k, v in row.items() if k != "variances"}, flush=True)

    record = {
        **provenance("python scripts/rate_distortion.py --seeds " + args.seeds),
        "seconds": round(time.perf_counter() - start),
        "s0": rd.S0, "free_bits": rd.FREE_BITS, "warmup_epochs": rd.WARMUP_EPOCHS, "sigma_lr": rd.SIGMA_LR,
        "training": vars(vae_lib.training.REFERENCE),
        "explorer": {"heldout_digits": pick.tolist(), "prior_seed": 7},
        "zero_rate_distortion": rd.zero_rate_distortion(x_heldout, rd.S0**2),  # eq. zero-rate-distortion
        "sweep": {"0": sweep}, "remedies": remedies, "annealed_train_kl": curves, "sigma_vae": sigma,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    np.savez_compressed(args.images, betas=np.array(betas), originals=rd.to_uint8(originals),
                        reconstructions=np.stack(recons), samples=np.stack(samples))
    print(f"wrote {args.out} and {args.images} in {record['seconds']} s")


if __name__ == "__main__":
    main()
