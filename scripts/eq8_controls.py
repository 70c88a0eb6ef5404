"""Train the five losses of chapter 6's controlled Eq. (8) experiment for several seeds.

    .venv/bin/python scripts/eq8_controls.py            # seeds 0, 1, 2: about 3 minutes on one core

Writes vae_lib/_data/eq8_controls.json: for each seed and loss, the measurements of
vae_lib.chapters.eq8_controls.measure on the embedded held-out digits, with the
command, torch version and CPU condition that produced them. Chapter 6 trains seed 0
itself and checks it against this file; the other seeds come from here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("VAE_LIB_NO_PROGRESS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance import provenance  # noqa: E402  (scripts/ is on sys.path)

import vae_lib  # noqa: E402
from vae_lib.chapters import eq8_controls as ec  # noqa: E402

OUT = ROOT / "vae_lib" / "_data" / "eq8_controls.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    vae_lib.runtime.set_threads()
    split = vae_lib.data.load_dataset("embedded")
    x_train, x_heldout = split.train.images, split.heldout.images
    found = ec.variants(x_train.shape[1])
    results = {}
    for seed in seeds:
        for name, variant in found.items():
            model, _ = ec.train(variant, x_train, seed)
            results.setdefault(str(seed), {})[name] = ec.measure(model, variant, x_heldout)
            print(seed, name, results[str(seed)][name], flush=True)
    record = {
        **provenance("python scripts/eq8_controls.py --seeds " + args.seeds),
        "s0": ec.S0, "training": vars(vae_lib.training.REFERENCE), "results": results,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
