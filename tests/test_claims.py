"""The book's two kinds of output: glued exact values, and claims with a range and a drift tolerance.

Covers ``vae_lib.book.claim`` / ``holds`` when a cell runs, ``reconcile_claims`` (what the root
conftest.py adds to nbval's comparison), an end-to-end nbval run on a small notebook whose stored
claim is moved on purpose, and the claims stored in the chapters.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from vae_lib import book
from vae_lib.book import ClaimError, claim, glue, holds, reconcile_claims, use_claims

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "vae_lib" / "_data" / "claims"


@pytest.fixture(autouse=True)
def ranges():
    """The ranges these tests' claims are checked against (a chapter reads its own file instead)."""
    use_claims({"x": {"within": [3, 4], "tol": 0.01}, "n": {"within": [7, 7], "tol": 0},
                "m": {"within": [0, 10], "tol": 0}, "loss": {"within": [3, 4], "tol": 0.1},
                "wide": {"within": [80, 90], "tol": 0.5}})
    yield
    use_claims({})


def _claim_output(name: str, value: float, tol: float, text: str | None = None) -> dict:
    return {"output_type": "display_data", "data": {book.GLUE_PREFIX + "text/plain": text or repr(value)},
            "metadata": {"scrapbook": {"name": name, "mime_prefix": book.GLUE_PREFIX},
                         "vae_book": {"claim": {"value": value, "tol": tol, "within": [0, 100], "inside": True}}}}


# --- claim and holds, when a cell runs ---------------------------------------------------------------------


def test_claim_returns_the_rounded_value_inside_its_range():
    assert claim("x", 3.14159, digits=2) == 3.14
    assert claim("n", torch.tensor(7)) == 7
    assert isinstance(claim("m", 7), int)
    # rounded to units, a number prints as an integer ("85", not "85.0"), as glue does
    shown = claim("wide", 84.6, digits=0)
    assert shown == 85 and isinstance(shown, int)
    assert isinstance(glue("g", 2.5001, digits=0), int)


def test_claim_outside_its_range_fails_naming_it():
    with pytest.raises(ClaimError, match=r"claim 'loss': this run gives 5, outside the range \[3, 4\]"):
        claim("loss", 5.0)


def test_a_claim_without_a_range_fails_naming_the_file_and_the_fix(monkeypatch, capsys):
    use_claims("01_autoencoder")
    with pytest.raises(ClaimError, match=r"claim 'unmeasured' has no range in vae_lib/_data/claims/01_autoencoder"
                                         r"\.json: measure one with scripts/portability.py --write-claims"):
        claim("unmeasured", 1.0)
    monkeypatch.setenv("VAE_BOOK_CLAIMS", "report")  # portability measures it, and then writes its range
    assert claim("unmeasured", 1.0) == 1.0
    assert "CLAIM FAILS" in capsys.readouterr().err


def test_a_chapter_reads_its_own_file_of_claims():
    use_claims("01_autoencoder")
    doc = json.loads((CLAIMS / "01_autoencoder.json").read_text())["claims"]["ae_heldout_loss"]
    lo, hi = doc["within"]
    assert claim("ae_heldout_loss", (lo + hi) / 2, digits=1) == round((lo + hi) / 2, 1)
    with pytest.raises(ClaimError, match="claim 'ae_heldout_loss'"):
        claim("ae_heldout_loss", hi + 1)
    use_claims("03_kl_divergence")  # exact results only: no file, and so no claim has a range
    with pytest.raises(ClaimError, match="no range in vae_lib/_data/claims/03_kl_divergence.json"):
        claim("ae_heldout_loss", lo)


def test_claim_report_mode_measures_instead_of_raising(monkeypatch, capsys):
    monkeypatch.setenv("VAE_BOOK_CLAIMS", "report")
    assert claim("loss", 5.0, digits=1) == 5.0
    holds("two is less than one", 2 < 1)
    assert capsys.readouterr().err.count("CLAIM FAILS") == 2
    monkeypatch.setenv("VAE_BOOK_CLAIMS", "loose")
    with pytest.raises(ValueError, match="VAE_BOOK_CLAIMS must be 'check' or 'report'"):
        claim("loss", 5.0)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"value": float("nan")}, ValueError, "value must be finite"),
    ({"value": "3.5"}, TypeError, "value must be a real number"),
    ({"value": torch.ones(2)}, ValueError, "value must be a single number"),
    ({"name": ""}, ValueError, "^name must be a non-empty str"),
    ({"name": 3}, TypeError, "^name must be a str, got int"),
    ({"digits": -1}, ValueError, "^digits must be a non-negative integer, got -1"),
    ({"digits": 1.0}, TypeError, "^digits must be an int, got float"),
])
def test_claim_rejects_bad_arguments_by_name(kwargs, error, message):
    args = {"name": "x", "value": 3.5, "digits": 1, **kwargs}
    name, value = args.pop("name"), args.pop("value")
    with pytest.raises(error, match=message):
        claim(name, value, **args)


@pytest.mark.parametrize("ranges, error, message", [
    ({"x": {"within": [4, 3], "tol": 0.1}}, ValueError, r"claim 'x' must have lo <= hi and tol >= 0"),
    ({"x": {"within": [3, 4], "tol": -1}}, ValueError, r"claim 'x' must have lo <= hi and tol >= 0"),
    ({"x": {"within": [3, 4], "tol": float("inf")}}, ValueError, r"claim 'x': tol must be finite"),
    ({"x": {"within": 3, "tol": 0.1}}, ValueError, r"claim 'x': within must be a pair"),
    ({"x": {"within": [0, float("nan")], "tol": 0.1}}, ValueError, r"claim 'x': within\[1\] must be finite"),
    ({"x": {"tol": 0.1}}, ValueError, r"claim 'x' must be a mapping with 'within' and 'tol'"),
    (3, TypeError, "chapter must be a chapter name"),
])
def test_use_claims_rejects_bad_ranges_by_name(ranges, error, message):
    with pytest.raises(error, match=message):
        use_claims(ranges)


def test_holds_prints_the_statement_or_fails_with_it(capsys):
    holds("one is less than two", 1 < 2)
    assert capsys.readouterr().out == "holds: one is less than two\n"
    with pytest.raises(ClaimError, match="the prose says 'two is less than one'"):
        holds("two is less than one", 2 < 1)
    with pytest.raises(TypeError, match="condition must be a bool"):
        holds("a number is not a verdict", 1)


# --- reconcile_claims: the tolerance in nbval's comparison ---------------------------------------------------


def test_a_claim_within_its_tolerance_is_replaced_by_the_stored_output():
    stored = [_claim_output("loss", 94.75, 0.5, "94.8")]
    fresh = [_claim_output("loss", 94.70, 0.5, "94.7")]
    outs, problems = reconcile_claims(fresh, stored)
    assert problems == [] and outs == stored


def test_a_claim_beyond_its_tolerance_is_reported_as_drift():
    stored = [_claim_output("loss", 94.75, 0.5, "94.8")]
    fresh = [_claim_output("loss", 96.0, 0.5, "96.0")]
    outs, problems = reconcile_claims(fresh, stored)
    assert outs == fresh
    assert problems == ["claim 'loss' drifted: this run gives 96, the stored output 94.75; they differ by 1.25, "
                        "more than its tolerance 0.5"]


def test_exact_outputs_pass_through_untouched():
    stream = {"output_type": "stream", "name": "stdout", "text": "29.1\n"}
    glued = copy.deepcopy(_claim_output("n", 3, 0))
    del glued["metadata"]["vae_book"]  # a plain glue: exact
    outs, problems = reconcile_claims([stream, glued], [dict(stream, text="29.0\n"), glued])
    assert outs == [stream, glued] and problems == []


# --- end to end: nbval with the root conftest.py ----------------------------------------------------------------


def _nbval(path: Path) -> subprocess.CompletedProcess:
    # the notebook lies outside the repository, so the root conftest.py is loaded as a plugin by name
    return subprocess.run([sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:cacheprovider", "-p", "conftest",
                           f"--rootdir={ROOT}", "-c", str(ROOT / "pytest.ini")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory) -> Path:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from vae_lib.book import claim, use_claims\n"
                                          "use_claims({'loss': {'within': [90, 100], 'tol': 0.5}})\n"
                                          "claim('loss', 94.75, digits=1)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    path = tmp_path_factory.mktemp("nb") / "claims.ipynb"
    nbformat.write(nb, path)
    return path


def _moved(path: Path, tmp_path: Path, value: float, text: str) -> Path:
    nb = json.loads(path.read_text())
    out = nb["cells"][0]["outputs"][0]
    out["metadata"]["vae_book"]["claim"]["value"] = value
    out["data"][book.GLUE_PREFIX + "text/plain"] = text
    moved = tmp_path / "moved.ipynb"
    moved.write_text(json.dumps(nb))
    return moved


def test_nbval_accepts_a_stored_claim_within_tolerance(executed_notebook, tmp_path):
    run = _nbval(_moved(executed_notebook, tmp_path, 94.4, "94.4"))  # 0.35 from this run's 94.75
    assert run.returncode == 0, run.stdout[-3000:]


def test_nbval_fails_on_a_stored_claim_beyond_tolerance(executed_notebook, tmp_path):
    run = _nbval(_moved(executed_notebook, tmp_path, 93.0, "93.0"))  # 1.75 from this run's 94.75
    assert run.returncode == 1
    assert "claim 'loss' drifted: this run gives 94.75, the stored output 93" in run.stdout
    assert "re-execute the chapter" in run.stdout


# --- the claims stored in the chapters -----------------------------------------------------------------------


def _stored_claims():
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for out in cell.get("outputs", []):
                c = (out.get("metadata") or {}).get("vae_book", {}).get("claim")
                if c:
                    yield path.name, out["metadata"]["scrapbook"]["name"], c


def test_every_stored_claim_holds_and_its_tolerances_can_fail():
    claims = list(_stored_claims())
    assert len(claims) >= 40, "the chapters' learned numbers should be claims"
    for chapter, name, c in claims:
        lo, hi = c["within"]
        where = f"{chapter}: claim {name!r} ({c})"
        assert c["inside"] and lo <= c["value"] <= hi, where
        # a drift tolerance wider than the range, or a range wider than the value's own size, could never fail
        assert c["tol"] <= (hi - lo) / 2 or hi == lo, where
        assert hi - lo <= max(abs(c["value"]), 1.0), where


# --- the files of claims: the one place a range is stated ----------------------------------------------------


def _chapters_with_claims():
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        stored = {name: c for chapter, name, c in _stored_claims() if chapter == path.name}
        file = CLAIMS / f"{path.stem}.json"
        yield path, stored, (json.loads(file.read_text())["claims"] if file.exists() else {})


def test_each_chapter_has_one_file_of_claims_that_matches_its_stored_outputs():
    seen = 0
    for path, stored, ranges in _chapters_with_claims():
        assert set(stored) == set(ranges), (f"{path.name}: claims without a range "
                                            f"{sorted(set(stored) - set(ranges))}, ranges no cell claims "
                                            f"{sorted(set(ranges) - set(stored))}")
        for name, c in stored.items():
            # a range edited in the file, and the chapter not re-executed since
            assert (c["within"], c["tol"]) == (ranges[name]["within"], ranges[name]["tol"]), (
                f"{path.name}: claim {name!r} was stored with {c['within']}, tol {c['tol']}; its file now says "
                f"{ranges[name]['within']}, tol {ranges[name]['tol']}. Re-execute: scripts/execute.py chapters/{path.name}")
        seen += len(stored)
    assert {p.stem for p in CLAIMS.glob("*.json")} <= {p.stem for p in (ROOT / "chapters").glob("*.ipynb")}
    assert seen >= 40


def test_every_range_covers_the_spread_it_was_measured_from():
    for path, _, ranges in _chapters_with_claims():
        for name, entry in ranges.items():
            (lo, hi), tol, m = entry["within"], entry["tol"], entry["measured"]
            where = f"vae_lib/_data/claims/{path.stem}.json: {name} {entry}"
            assert lo <= m["runs"][0] <= m["runs"][1] <= hi, where  # every seed and condition measured
            assert m["seed0"][0] <= m["seed0"][1] and m["drift"] <= tol, where  # the drift a condition causes


def test_the_cells_name_the_claim_and_the_value_only():
    import ast

    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code" or "claim(" not in "".join(cell["source"]):
                continue
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "claim":
                    assert {k.arg for k in node.keywords} <= {"digits"}, f"{path.name}: {ast.unparse(node)}"


def test_portability_writes_ranges_by_the_rule_and_keeps_a_range_that_still_holds(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    import portability

    # tol: max(3 x drift 0.1, a unit of the last digit 0.1, spread 2 / 4); within: the runs widened by max(1, 2 tol)
    assert portability.rule([10, 12, 11], 0.1, digits=1) == ([9.0, 13.0], 0.5)
    assert portability.rule([20, 20], 0, digits=None) == ([20, 20], 0.0)  # a count: exact
    lo, hi = portability.rule([0.5, 0.6], 0.0, digits=2)[0]
    assert hi - lo <= 0.6  # never wider than the number

    monkeypatch.setattr(portability, "CLAIMS", tmp_path)
    (tmp_path / "09_x.json").write_text(json.dumps({"claims": {"kept": {"within": [0, 100], "tol": 1},
                                                              "moved": {"within": [0, 1], "tol": 0.1},
                                                              "gone": {"within": [0, 1], "tol": 0.1}}}))
    run = {"seed0": [10, 10.1], "drift": 0.1, "runs": [10, 12], "values": [10, 12, 11]}
    changes = portability.update_claims(Path("chapters/09_x.ipynb"), {"kept": run, "moved": run},
                                        {"kept": {"digits": 1}, "moved": {"digits": 1}}, {"torch": "t"})
    doc = json.loads((tmp_path / "09_x.json").read_text())
    assert doc["claims"]["kept"]["within"] == [0, 100] and doc["claims"]["moved"]["within"] == [9.0, 13.0]
    assert doc["claims"]["moved"]["measured"] == {"seed0": [10, 10.1], "drift": 0.1, "runs": [10, 12]}
    assert "gone" not in doc["claims"] and len(changes) == 2
