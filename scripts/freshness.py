"""A freshness stamp for a notebook's stored outputs: which source produced them.

scripts/execute.py writes ``stamp(nb)`` into ``nb.metadata["vae_book"]["freshness"]``
after a successful run; tests/test_freshness.py calls ``check(path)`` on every chapter.
The stamp catches what comparing outputs cannot: a change that only alters a figure,
or a glue key renamed in both the code and the prose.
"""
from __future__ import annotations

import ast
import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vae_lib"
sys.path.insert(0, str(ROOT / "_ext"))
import notebook_markup  # noqa: E402


def _source(cell) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)  # on disk, a list of lines


def cells_hash(nb) -> str:
    """The ordered cell types and sources; outputs, execution counts and metadata excluded.
    Markdown counts as its MyST source: the readable texts beside the roles come from the outputs."""
    cells = [[cell["cell_type"], notebook_markup.to_myst(_source(cell)) if cell["cell_type"] == "markdown"
              else _source(cell)] for cell in nb["cells"]]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def executable_bytes(path: Path) -> bytes:
    """What in a file can move an output. A module counts as its code: comments, layout and
    docstrings are dropped (no chapter prints a docstring or a source line), so editing them
    needs no re-execution. Every other file (data, the explorers' script, which each output
    inlines) counts byte for byte."""
    if path.suffix != ".py":
        return path.read_bytes()
    # ast.unparse, not ast.dump: its text does not change with the node fields of a Python release.
    return ast.unparse(_strip_docstrings(ast.parse(path.read_bytes(), filename=str(path)))).encode()


def package_hash(package: Path = PACKAGE) -> str:
    """Every file of the package (modules as code, data as bytes), by relative path."""
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file()):
        relative = path.relative_to(package)
        # Bytecode and editor or OS leftovers are never packaged.
        if "__pycache__" in relative.parts or path.suffix == ".pyc" or path.name.startswith("."):
            continue
        # The claims' ranges are checked against each stored output by tests/test_claims.py, so a new
        # measured spread beside an unchanged range needs no re-execution, and a changed range is caught there.
        if relative.parts[:2] == ("_data", "claims"):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(executable_bytes(path)).digest())
    return digest.hexdigest()


def stamp(nb) -> dict:
    # The version from the installed metadata: importing torch here would take seconds.
    return {"cells": cells_hash(nb), "vae_lib": package_hash(), "torch": version("torch")}


def write_stamp(nb) -> None:
    nb["metadata"].setdefault("vae_book", {})["freshness"] = stamp(nb)


def _release(torch_version) -> str:
    # Without the local label: the CPU build here ("2.13.0+cpu") and the default build
    # from PyPI on a hosted runner ("2.13.0") are the same release and compute the same.
    return str(torch_version).split("+")[0]


def check(path) -> str | None:
    """None when the stored outputs come from the current source, else what is stale and the fix."""
    path = Path(path)
    nb = json.loads(path.read_text())
    command = f".venv/bin/python scripts/execute.py chapters/{path.name}"
    stored = nb.get("metadata", {}).get("vae_book", {}).get("freshness")
    if not stored:
        return f"{path.name} was never stamped: its stored outputs are of unknown origin. Refresh them: {command}"
    current = stamp(nb)
    stale = [part for part in ("cells", "vae_lib") if stored.get(part) != current[part]]
    if _release(stored.get("torch")) != _release(current["torch"]):
        stale.append(f"torch {stored.get('torch')} -> {current['torch']}")
    if not stale:
        return None
    return (f"{path.name}: stored outputs are stale ({', '.join(stale)} changed since the last execution). "
            f"Refresh them: {command}")
