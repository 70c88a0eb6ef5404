"""Every chapter's stored outputs come from its current source (scripts/freshness.py).

nbval compares outputs only where they are text; this stamp also catches a change
that only alters a figure, a change in vae_lib, or a glue key renamed in both the
code and the prose. The fix is always to re-execute the chapter (the message says how).
"""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

# scripts/ is not a package: load the module from its file.
_spec = importlib.util.spec_from_file_location("freshness", ROOT / "scripts" / "freshness.py")
freshness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(freshness)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stored_outputs_are_fresh(path):
    message = freshness.check(path)
    assert message is None, message


# --- The check can fail -----------------------------------------------------------------------------


@pytest.fixture
def stamped(tmp_path) -> Path:
    """A copy of a chapter, stamped as execute.py stamps it (the stamp does not depend on the outputs)."""
    path = tmp_path / CHAPTERS[0].name
    shutil.copy(CHAPTERS[0], path)
    nb = json.loads(path.read_text())
    freshness.write_stamp(nb)
    path.write_text(json.dumps(nb))
    assert freshness.check(path) is None
    return path


def _edit(path: Path, change) -> None:
    nb = json.loads(path.read_text())
    change(nb)
    path.write_text(json.dumps(nb))


def test_a_changed_cell_source_is_stale(stamped):
    def change(nb):
        code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        code["source"] = "".join(code["source"]) + "\n# edited"
    _edit(stamped, change)
    message = freshness.check(stamped)
    assert message and "cells" in message and "vae_lib" not in message and "torch" not in message
    assert stamped.name in message
    assert f".venv/bin/python scripts/execute.py chapters/{stamped.name}" in message


def test_outputs_and_execution_counts_do_not_count(stamped):
    def change(nb):
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"], cell["metadata"] = [], None, {"tags": ["x"]}
    _edit(stamped, change)
    assert freshness.check(stamped) is None


def test_another_vae_lib_is_stale(stamped):
    _edit(stamped, lambda nb: nb["metadata"]["vae_book"]["freshness"].update(vae_lib="0" * 64))
    message = freshness.check(stamped)
    assert message and "vae_lib" in message and "cells" not in message
    assert f"scripts/execute.py chapters/{stamped.name}" in message


def test_another_torch_release_is_stale_but_not_another_build(stamped, monkeypatch):
    release = freshness.stamp(json.loads(stamped.read_text()))["torch"].split("+")[0]
    monkeypatch.setattr(freshness, "version", lambda name: release + "+cu128")
    assert freshness.check(stamped) is None, "the same release, built for CUDA, computes the same on a CPU"
    monkeypatch.setattr(freshness, "version", lambda name: "1.0.0")
    message = freshness.check(stamped)
    assert message and "torch" in message and "cells" not in message


def test_a_notebook_never_stamped_says_so(stamped):
    _edit(stamped, lambda nb: nb["metadata"].pop("vae_book"))
    message = freshness.check(stamped)
    assert message and "never stamped" in message and stamped.name in message
    assert f".venv/bin/python scripts/execute.py chapters/{stamped.name}" in message


def test_the_package_hash_covers_modules_and_data_but_not_bytecode(tmp_path):
    package = tmp_path / "vae_lib"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "mnist.csv.gz").write_bytes(b"\x1f\x8b data")
    before = freshness.package_hash(package)
    (package / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"bytecode")
    assert freshness.package_hash(package) == before
    (package / "mnist.csv.gz").write_bytes(b"\x1f\x8b other data")
    assert freshness.package_hash(package) != before
    (package / "mnist.csv.gz").write_bytes(b"\x1f\x8b data")
    (package / "__init__.py").rename(package / "other.py")
    assert freshness.package_hash(package) != before, "a renamed module is a change"


def test_docstrings_and_comments_do_not_count_but_code_does(tmp_path):
    """Issue 19: a docstring or comment edit leaves every stamp valid; a one-character code change does not."""
    package = tmp_path / "vae_lib"
    shutil.copytree(ROOT / "vae_lib", package, ignore=shutil.ignore_patterns("__pycache__"))
    assert freshness.package_hash(package) == freshness.package_hash(), "a copy hashes as the original"
    before = freshness.package_hash(package)
    module = package / "divergences.py"
    source = module.read_text()
    tree = freshness.ast.parse(source)
    docstring = freshness.ast.get_docstring(tree, clean=False)
    assert docstring, "the module under test has a docstring to edit"

    module.write_text(source.replace(docstring, docstring + " A typo, mended.", 1)
                      + "\n# a comment\n\n\n")
    assert freshness.package_hash(package) == before, "docstrings, comments and blank lines are not code"

    function = next(n for n in tree.body if isinstance(n, freshness.ast.FunctionDef) and freshness.ast.get_docstring(n))
    inner = freshness.ast.get_docstring(function, clean=False)
    module.write_text(source.replace(inner, inner + " Reworded.", 1))
    assert freshness.package_hash(package) == before, "a function's docstring is not code"

    code_line = "return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)"  # the closed-form KL to N(0, I)
    assert code_line in source
    for edit in (lambda s: s.replace(code_line, code_line.replace("0.5", "0.6")),
                 lambda s: s.replace(code_line, code_line.replace(" + ", " - ", 1))):
        changed = edit(source)
        assert changed != source
        module.write_text(changed)
        assert freshness.package_hash(package) != before, "a one-character code change is stale"
    module.write_text(source)
    assert freshness.package_hash(package) == before

    script = package / "book" / "explorers.js"
    script.write_text(script.read_text() + "\n// a comment\n")
    assert freshness.package_hash(package) != before, "the explorers' script is inlined in outputs: bytes count"
