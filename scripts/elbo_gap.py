"""Train the two models that chapter 7 (the gap between the ELBO and log p(x)) measures.

    .venv/bin/python scripts/elbo_gap.py                 # the reference VAE: about half a minute on one core
    .venv/bin/python scripts/elbo_gap.py --iwae-k 5      # the same network trained on L_5: about two minutes

Trains ``vae_lib.VAE(ModelConfig())`` with ``training.REFERENCE`` (seed 0) on the embedded 4,000
training digits, on the negative ELBO (the reference VAE of chapters 2 and 6; written to
vae_lib/_data/elbo_gap_vae.pt) or on the importance-weighted bound ``-L_k``
(``vae_lib.chapters.elbo_gap.iwae_objective``; written to vae_lib/_data/elbo_gap_iwae<k>.pt),
each with its history and SHA-256 (``checkpoints.save_checkpoint``). Chapter 7 loads them
(``checkpoints.load_checkpoint`` verifies the digest), so its claims are about these models.
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
from vae_lib.chapters import elbo_gap  # noqa: E402
from vae_lib.checkpoints import save_checkpoint  # noqa: E402
from vae_lib.runtime import seed_everything  # noqa: E402
from vae_lib.training import REFERENCE, fit, vae_objective  # noqa: E402

DATA = ROOT / "vae_lib" / "_data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--iwae-k", type=int, default=0, help="train on -L_k with this k (0: the negative ELBO)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    objective = elbo_gap.iwae_objective(args.iwae_k) if args.iwae_k else vae_objective()
    out = args.out or DATA / (elbo_gap.iwae_checkpoint(args.iwae_k) if args.iwae_k else elbo_gap.CHECKPOINT)
    vae_lib.runtime.set_threads()
    split = vae_lib.data.load_dataset("embedded")
    seed_everything(args.seed)
    model = vae_lib.VAE(vae_lib.ModelConfig())
    history = fit(model, objective, split.train.images, x_heldout=split.heldout.images,
                  seed=args.seed, **vars(REFERENCE))
    save_checkpoint(out, model, history)
    print(f"seed {args.seed}, {objective.name}: held-out loss {history['heldout/loss'][-1]:.2f} nats; wrote {out}")


if __name__ == "__main__":
    main()
