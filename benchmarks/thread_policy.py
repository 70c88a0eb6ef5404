"""The thread policy, old and new, in one run: ``python benchmarks/thread_policy.py [--repeats 5]``.

For each condition (an idle machine; a busy loop in another process, started just before), it
alternates ``bench.run`` with vae_lib on the threads each policy picks at that moment, the
baseline (pytorch/examples' DataLoader loop) always at torch's default threads:

* ``load average`` (vae_lib 0.2): usable cores minus the 1-minute load average, rounded;
* ``sampled`` (vae_lib 0.3, :func:`vae_lib.runtime.set_threads`): usable cores minus the cores
  other processes keep busy over 0.2 s (/proc/stat, less this process's own CPU time).

It prints a table (median samples/s of one epoch on the embedded digits, the threads each pick
chose) and, with ``--json``, the figures as one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

from vae_lib import runtime  # noqa: E402


def load_average_pick() -> int:
    """The 0.2 policy, kept here to compare with."""
    return runtime.cores_left(runtime._usable_cores(), os.getloadavg()[0])


def measure(repeats: int) -> dict:
    rows: dict[str, dict[str, list]] = {}
    for policy in ("load average", "sampled"):
        rows[policy] = {"threads": [], "ours": [], "baseline": []}
    for _ in range(repeats):
        for policy, pick in (("load average", load_average_pick), ("sampled", runtime._free_cores)):
            threads = pick()
            r = bench.run(epochs=0, throughput_epochs=1, repeats=1, threads=threads, defaults=True)
            rows[policy]["threads"].append(threads)
            rows[policy]["ours"].append(r["samples_per_s"])
            rows[policy]["baseline"].append(r["baseline_samples_per_s"])
    return {policy: {"threads": row["threads"], "samples_per_s": statistics.median(row["ours"]),
                     "baseline_samples_per_s": statistics.median(row["baseline"]),
                     "speedup": round(statistics.median(row["ours"]) / statistics.median(row["baseline"]), 2)}
            for policy, row in rows.items()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python benchmarks/thread_policy.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    results = {"idle": measure(a.repeats)}
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        results["busy"] = measure(a.repeats)
    finally:
        burner.kill()
        burner.wait()
    results["torch_default_threads"] = bench.TORCH_DEFAULT_THREADS
    results["usable_cores"] = runtime._usable_cores()
    print(f"baseline at torch's default of {bench.TORCH_DEFAULT_THREADS} thread(s); "
          f"{results['usable_cores']} usable cores; median samples/s of one epoch")
    print(f"{'condition':10s} {'policy':14s} {'threads picked':16s} {'vae_lib':>9s} {'baseline':>9s} {'ratio':>6s}")
    for condition in ("idle", "busy"):
        for policy, r in results[condition].items():
            print(f"{condition:10s} {policy:14s} {str(r['threads']):16s} {r['samples_per_s']:9.0f} "
                  f"{r['baseline_samples_per_s']:9.0f} {r['speedup']:6.2f}")
    if a.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
