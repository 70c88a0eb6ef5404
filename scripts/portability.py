"""Portability of the stored outputs: seeds x numeric conditions, and the cross matrix.

Usage: .venv/bin/python scripts/portability.py [--seeds 0,1,2] [--conditions native,default,threads2]
                                              [--generators native,default,threads2] [--jobs 2]
                                              [--out _build/portability] [chapters/NAME.ipynb ...]

1. Executes every chapter once per (condition, seed) into --out, never in place (seeds other than 0
   only for chapters with claims: in an exact chapter the seed chooses the model itself).
   A condition is a set of environment variables that change the CPU kernels or the
   reduction order, as another machine would (CONDITIONS below). Seed s > 0 shifts
   every seed the chapter sets (``torch.manual_seed`` and ``torch.Generator().manual_seed``)
   by 1000 s, through a cell put in front of the notebook. Claims only report (not raise)
   (``VAE_BOOK_CLAIMS=report``), so every value is measured; a claim outside its range fails the run's verdict.
2. Prints the spread of every claim (``vae_lib.book.claim``): its value under each
   condition at seed 0 and under each seed, and checks that the stated range holds for
   every run and the drift tolerance covers every condition at seed 0.
3. Prints the cross matrix: for each generating condition A and testing condition B
   (seed 0), the number of cells whose outputs from B fail nbval's comparison (with
   the claims' tolerances, exactly as in ``make test``) against the outputs stored from A.
   Every entry must be 0. Exits 1 otherwise, or when a claim fails.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONDITIONS = {  # name -> environment; "native" is whatever this machine picks by itself
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "threads2": {"VAE_LIB_THREADS": "2"},
}

SEED_SHIFT = """\
# scripts/portability.py: shift every seed this notebook sets by {shift}
import torch
_manual_seed, _Generator = torch.manual_seed, torch.Generator
class _ShiftedGenerator(_Generator):
    def manual_seed(self, seed):
        return super().manual_seed(seed + {shift})
torch.Generator = _ShiftedGenerator
torch.manual_seed = lambda seed: _manual_seed(seed + {shift})
"""


CLAIMS = ROOT / "vae_lib" / "_data" / "claims"


def _sig(x: float, n: int = 4) -> float:
    return float(f"{x:.{n}g}")


def rule(runs: list[float], drift: float, digits: int | None) -> tuple[list[float], float]:
    """The range and tolerance that CONTRIBUTING.md's rule gives a claim measured in ``runs``.

    tol: the largest of three times the drift a condition causes at seed 0, one unit of the last
    printed digit, and a quarter of the spread across all runs. within: every run, widened on each
    side by half the spread and at least twice tol, but never wider than the value itself."""
    lo, hi = min(runs), max(runs)
    spread = hi - lo
    unit = 10.0 ** -digits if digits is not None else 0.0
    if spread == 0 and drift == 0 and all(float(v).is_integer() for v in runs) and digits is None:
        return [lo, hi], 0.0  # a count, identical in every run: exact
    tol = _sig(max(3 * drift, unit, spread / 4), 2)
    widen = max(spread / 2, 2 * tol)
    size = max(abs(lo), abs(hi))
    if spread + 2 * widen > size:  # a range wider than the number could never fail
        widen = max(tol, (size - spread) / 2)
    step = 10.0 ** (math.floor(math.log10(max(spread + 2 * widen, 1e-12))) - 1)  # two significant digits
    return [_sig(math.floor((lo - widen) / step) * step, 6), _sig(math.ceil((hi + widen) / step) * step, 6)], tol


def write_claims(path: Path, doc: dict) -> None:
    """One line per claim, so a diff shows which range or measurement changed."""
    lines = ["{", f' "chapter": {json.dumps(doc["chapter"])},', f' "rule": {json.dumps(doc["rule"])},',
             f' "measured_with": {json.dumps(doc["measured_with"])},', ' "claims": {']
    items = list(doc["claims"].items())
    lines += [f"  {json.dumps(k)}: {json.dumps(v)}" + ("," if i < len(items) - 1 else "") for i, (k, v) in enumerate(items)]
    path.write_text("\n".join(lines + [" }", "}"]) + "\n")


def update_claims(chapter: Path, measured: dict[str, dict], meta: dict[str, dict], with_: dict) -> list[str]:
    """Write the chapter's file of claims from this run: the spread beside each range. A stored range
    that still covers every run, with a tolerance at least the drift, is kept; any other is replaced
    by the rule's. Returns what changed."""
    path = CLAIMS / f"{chapter.stem}.json"
    old = json.loads(path.read_text())["claims"] if path.exists() else {}
    claims, changes = {}, []
    for name, m in measured.items():
        stored = old.get(name)
        lo, hi = m["runs"]
        if stored and stored["within"][0] <= lo and hi <= stored["within"][1] and stored["tol"] >= m["drift"]:
            within, tol = stored["within"], stored["tol"]
        else:
            within, tol = rule(m["values"], m["drift"], meta[name].get("digits"))
            changes.append(f"{chapter.stem}/{name}: {stored and (stored['within'], stored['tol'])} -> {(within, tol)}")
        claims[name] = {"within": within, "tol": tol,
                        "measured": {"seed0": [_sig(v, 6) for v in m["seed0"]], "drift": _sig(m["drift"], 2),
                                     "runs": [_sig(lo, 6), _sig(hi, 6)]}}
    changes += [f"{chapter.stem}/{name}: removed (no cell claims it)" for name in old if name not in claims]
    CLAIMS.mkdir(exist_ok=True)
    write_claims(path, {"chapter": chapter.stem, "rule": "CONTRIBUTING.md, 'Exact results and claims'",
                        "measured_with": with_, "claims": claims})
    return changes


def execute_one(chapter: Path, condition: str, seed: int, out: Path) -> tuple[str, float, str]:
    """Execute one chapter in a fresh process with the condition's environment."""
    target = out / f"{condition}-s{seed}" / chapter.name
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VAE_LIB_NO_PROGRESS": "1", "PYTHONHASHSEED": "0", **CONDITIONS[condition]}
    env["VAE_BOOK_CLAIMS"] = "report"  # measure every claim, even one outside its range
    code = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "src, dst, shift = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
        "nb = nbformat.read(src, as_version=4)\n"
        "if shift:\n"
        f"    nb.cells.insert(0, nbformat.v4.new_code_cell({SEED_SHIFT!r}.format(shift=shift)))\n"
        "try:\n"
        "    NotebookClient(nb, timeout=900, kernel_name='python3',\n"
        "                   resources={'metadata': {'path': sys.argv[4]}}).execute()\n"
        "finally:\n"
        "    if shift:\n"
        "        nb.cells.pop(0)\n"
        "    nbformat.write(nb, dst)\n"
    )
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code, str(chapter), str(target), str(1000 * seed),
                          str(chapter.parent)], env=env, capture_output=True, text=True)
    status = "ok" if run.returncode == 0 else "FAILED: " + run.stderr.strip().splitlines()[-1][:300]
    return f"{condition}-s{seed}/{chapter.name}", time.perf_counter() - start, status


def claims_of(path: Path) -> dict[str, dict]:
    nb = json.loads(path.read_text())
    found = {}
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            c = (o.get("metadata") or {}).get("vae_book", {}).get("claim")
            if c:
                found[o["metadata"]["scrapbook"]["name"]] = c
    return found


def nbval_comparator():
    """nbval's own comparison (as ``make test`` runs it: sanitizers and claim tolerances), outside pytest."""
    import nbformat
    import nbval.plugin as nbval

    from vae_lib.book import reconcile_claims

    patterns = dict(nbval.get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text()))
    skip = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
            "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")
    cell = SimpleNamespace(parent=SimpleNamespace(skip_compare=skip, sanitize_patterns=patterns),
                           colors=nbval.nocolors, comparison_traceback=[])
    cell.sanitize = lambda s: nbval.IPyNbCell.sanitize(cell, s)
    cell.format_output_compare = lambda key, a, b: cell.comparison_traceback.append(f"{key}: {a!r} != {b!r}")

    def failing_cells(stored: Path, fresh: Path) -> list[str]:
        ref_nb, test_nb = nbformat.read(stored, as_version=4), nbformat.read(fresh, as_version=4)
        ref_cells = [c for c in ref_nb["cells"] if c["cell_type"] == "code"]
        test_cells = [c for c in test_nb["cells"] if c["cell_type"] == "code"]
        failures = []
        for k, (ref, test) in enumerate(zip(ref_cells, test_cells)):
            source = "".join(ref["source"])
            if nbval.find_comment_markers(source) or nbval.find_metadata_tags(ref.get("metadata", {})):
                options = dict(nbval.find_comment_markers(source))
                options.update(nbval.find_metadata_tags(ref.get("metadata", {})))
                if options.get("check") is False or options.get("skip"):
                    continue
            ref_outs = nbval.coalesce_streams(ref.get("outputs", []))  # coalescing edits outputs: do it once
            outs, problems = reconcile_claims(nbval.coalesce_streams(test.get("outputs", [])), ref_outs)
            cell.comparison_traceback = []
            ok = nbval.IPyNbCell.compare_outputs(cell, outs, ref_outs)
            if problems or not ok:
                failures.append(f"code cell {k}: " + "; ".join(problems + cell.comparison_traceback)[:400])
        if len(ref_cells) != len(test_cells):
            failures.append(f"{len(ref_cells)} code cells stored, {len(test_cells)} run")
        return failures

    return failing_cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--conditions", default="native,default,threads2")
    parser.add_argument("--generators", default="native,default,threads2",
                        help="conditions whose seed-0 outputs play the stored outputs in the cross matrix")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "portability")
    parser.add_argument("--reuse", action="store_true", help="do not execute; read what --out already holds")
    parser.add_argument("--write-claims", action="store_true",
                        help="write each chapter's vae_lib/_data/claims/<chapter>.json from this run (every seed and "
                             "condition must have run)")
    args = parser.parse_args()
    chapters = args.chapters or sorted((ROOT / "chapters").glob("*.ipynb"))
    seeds = [int(s) for s in args.seeds.split(",")]
    conditions = args.conditions.split(",")
    generators = args.generators.split(",")
    for name in {*conditions, *generators}:
        if name not in CONDITIONS:
            parser.error(f"unknown condition {name!r}; known: {', '.join(CONDITIONS)}")
    if not set(generators) <= set(conditions):
        parser.error("--generators must be among --conditions")

    # Seeds measure the spread of learned numbers, so only chapters with claims get shifted seeds. In an
    # exact chapter (chapter 4) the seed picks the model itself, and another seed is another chapter.
    def has_claims(ch: Path) -> bool:
        return "claim(" in "".join("".join(c["source"]) for c in json.loads(ch.read_text())["cells"]
                                   if c["cell_type"] == "code")

    runs = [(ch, cond, seed) for seed in seeds for cond in conditions for ch in chapters
            if seed == 0 or has_claims(ch)]
    if not args.reuse:
        # Single-thread runs share the cores (--jobs at a time); a condition with more threads runs alone,
        # since two jobs whose OpenMP threads wait for each other are many times slower.
        single = [r for r in runs if "VAE_LIB_THREADS" not in CONDITIONS[r[1]]]
        for batch, jobs in ((single, args.jobs), ([r for r in runs if r not in single], 1)):
            with cf.ThreadPoolExecutor(jobs) as pool:
                for label, seconds, status in pool.map(lambda r: execute_one(*r, args.out), batch):
                    print(f"  {label:45s} {seconds:6.1f} s  {status}", flush=True)

    # --- the spread of every claim -------------------------------------------------------------------------
    bad = 0
    spread = {}
    print("\n## Claims: seed 0 under each condition, and every seed under every condition\n")
    print("| chapter | claim | stored range | tol | seed 0, conditions: min – max | max drift | all runs: min – max |"
          " verdict |")
    print("|---|---|---|---|---|---|---|---|")
    claim_changes: list[str] = []
    if args.write_claims:  # what the files record the measurement was made with
        torch_release, cpu = subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.__version__, torch.backends.cpu.get_cpu_capability())"],
            capture_output=True, text=True).stdout.split()
    for ch in chapters:
        values: dict[str, dict[tuple[str, int], float]] = {}
        meta: dict[str, dict] = {}
        measured: dict[str, dict] = {}
        for cond in conditions:
            for seed in seeds:
                path = args.out / f"{cond}-s{seed}" / ch.name
                for name, c in (claims_of(path) if path.exists() else {}).items():
                    values.setdefault(name, {})[(cond, seed)] = c["value"]
                    meta.setdefault(name, c)
        for name, by_run in values.items():
            c = meta[name]
            zero = [v for (cond, seed), v in by_run.items() if seed == 0]
            ref = by_run.get((conditions[0], 0), zero[0])
            drift = max(abs(v - ref) for v in zero)
            lo, hi = c["within"] or (math.inf, -math.inf)  # a claim without a range yet fails here
            every = list(by_run.values())
            ok = drift <= (c["tol"] or 0) and all(lo <= v <= hi for v in every) and len(every) == len(conditions) * len(seeds)
            bad += not ok
            spread[f"{ch.stem}/{name}"] = {"stored": c, "runs": {f"{cond}-s{seed}": v for (cond, seed), v in by_run.items()}}
            measured[name] = {"seed0": [min(zero), max(zero)], "drift": drift, "runs": [min(every), max(every)],
                              "values": every, "complete": len(every) == len(conditions) * len(seeds)}
            print(f"| {ch.stem[:2]} | `{name}` | {c['within'] and f'[{lo:g}, {hi:g}]'} | {c['tol']} |"
                  f" {min(zero):.4g} – {max(zero):.4g} | {drift:.2g} | {min(every):.4g} – {max(every):.4g} |"
                  f" {'ok' if ok else 'FAILS'} |")
        if args.write_claims and measured:
            if not all(m["complete"] for m in measured.values()):
                print(f"  {ch.stem}: not every seed and condition ran; its file of claims is left as it is")
            else:
                with_ = {"command": "scripts/portability.py --write-claims --seeds " + args.seeds + " --conditions "
                         + args.conditions, "torch": torch_release, "cpu": cpu, "date": time.strftime("%Y-%m")}
                claim_changes += update_claims(ch, measured, meta, with_)

    (args.out / "claims.json").write_text(json.dumps(spread, indent=1))
    for line in claim_changes:
        print(f"  written: {line}")

    # --- qualitative statements (vae_lib.book.holds) and claims that failed in some run ---------------------
    print("\n## Statements or claims that failed in some run\n")
    for path in sorted(args.out.glob("*-s*/*.ipynb")):
        if path.name not in {ch.name for ch in chapters}:
            continue
        for cell in json.loads(path.read_text())["cells"]:
            for o in cell.get("outputs", []):
                for line in "".join(o.get("text", "")).splitlines():
                    if line.startswith("CLAIM FAILS"):
                        bad += 1
                        print(f"  {path.parent.name}/{path.name}: {line}")
                if o.get("output_type") == "error":
                    bad += 1
                    print(f"  {path.parent.name}/{path.name}: {o['ename']}: {o['evalue'][:300]}")

    # --- the cross matrix ----------------------------------------------------------------------------------
    failing_cells = nbval_comparator()
    print("\n## Cross matrix: failing cells when outputs stored under A (rows) are tested under B (columns)\n")
    print("| stored under \\ tested under | " + " | ".join(conditions) + " |")
    print("|---" * (len(conditions) + 1) + "|")
    details = []
    for a in generators:
        row = []
        for b in conditions:
            if a == b:
                row.append("–")
                continue
            n = 0
            for ch in chapters:
                stored, fresh = args.out / f"{a}-s0" / ch.name, args.out / f"{b}-s0" / ch.name
                failures = failing_cells(stored, fresh) if stored.exists() and fresh.exists() else ["missing run"]
                n += len(failures)
                details += [f"{a} -> {b}, {ch.name}: {f}" for f in failures]
            bad += n
            row.append(str(n))
        print(f"| {a} | " + " | ".join(row) + " |")
    for line in details:
        print("  " + line)
    print("\nconditions: " + "; ".join(f"{k} = {' '.join(f'{a}={b}' for a, b in v.items()) or '(none)'}"
                                       for k, v in CONDITIONS.items() if k in conditions))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
