"""Train the reference VAE that chapter 7 (the gap between the ELBO and log p(x)) measures.

    .venv/bin/python scripts/elbo_gap.py            # seed 0: about half a minute on one core

Trains ``vae_lib.VAE(ModelConfig())`` with ``training.REFERENCE`` on the embedded 4,000
training digits (the reference VAE of chapters 2 and 6) and writes it, with its history and
SHA-256, to vae_lib/_data/elbo_gap_vae.pt (``training.save_checkpoint``). Chapter 7 loads it
(``training.load_checkpoint`` verifies the digest), so its claims are about this model.
Re-run it whenever ``REFERENCE`` or the model changes.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("VAE_LIB_NO_PROGRESS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import vae_lib  # noqa: E402
from vae_lib.training import REFERENCE, fit, save_checkpoint, seed_everything, vae_objective  # noqa: E402

OUT = ROOT / "vae_lib" / "_data" / "elbo_gap_vae.pt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    vae_lib.training.set_threads()
    split = vae_lib.data.load_dataset("embedded")
    seed_everything(args.seed)
    model = vae_lib.VAE(vae_lib.ModelConfig())
    history = fit(model, vae_objective(), split.train.images, x_heldout=split.heldout.images,
                  seed=args.seed, **vars(REFERENCE))
    save_checkpoint(args.out, model, history)
    print(f"seed {args.seed}: held-out ELBO {-history['heldout/loss'][-1]:.2f} nats; wrote {args.out}")


if __name__ == "__main__":
    main()
