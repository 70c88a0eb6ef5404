"""Tag the chapters' bookkeeping cells ``hide-input``: cells that only state numbers for the prose.

A cell whose every statement is a call of ``claim``, ``holds`` or ``glue`` (or an
import) shows nothing a reader needs to read as code: the numbers appear in the
prose, and the site folds the code away. ``tests/test_cells.py`` checks the tags;
this script sets them (``python scripts/cell_tags.py [--split] [notebooks ...]``;
``--split`` first moves the bookkeeping statements of mixed cells into cells of
their own, then the chapters need re-executing).
"""
from __future__ import annotations

import argparse
import ast
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BOOKKEEPING = {"claim", "holds", "glue"}
TAG = "hide-input"


def _is_bookkeeping_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return name in BOOKKEEPING


def is_bookkeeping(source: str) -> bool:
    """True for a cell of claim/holds/glue calls only (imports allowed), at least one of them."""
    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython magics: not a bookkeeping cell
        return False
    calls = 0
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign)) else None
        if value is None or not _is_bookkeeping_call(value):
            return False
        calls += 1
    return calls > 0


def _names(node: ast.AST, kind: type) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, kind)}


def split(source: str) -> tuple[str, str] | None:
    """A mixed cell's computation and its bookkeeping (claim/holds/glue statements), as two sources.

    None when the cell is not mixed, or when a later computing statement reads a
    name that a bookkeeping statement binds, or rebinds one that it reads (then the
    two cannot be separated).
    """
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    keep = [isinstance(s, (ast.Expr, ast.Assign, ast.AnnAssign)) and _is_bookkeeping_call(s.value) for s in body]
    if not any(keep) or all(keep) or not any(k is False and not isinstance(s, (ast.Import, ast.ImportFrom))
                                             for s, k in zip(body, keep)):
        return None
    bound: set[str] = set()
    read: set[str] = set()
    for s, k in zip(body, keep):
        if k:
            bound |= _names(s, ast.Store)
            read |= _names(s, ast.Load)
        elif _names(s, ast.Load) & bound or _names(s, ast.Store) & read:
            return None  # moving the bookkeeping would change what it reads, or what reads it
    lines = source.splitlines()
    last = [s for s, k in zip(body, keep) if k][-1]
    if isinstance(last, ast.Expr):  # the cell's last call would otherwise display its value
        row, line = last.end_lineno - 1, lines[last.end_lineno - 1].encode()  # ast's columns count UTF-8 bytes
        if not line[last.end_col_offset:].lstrip().startswith(b";"):  # before any trailing comment
            lines[row] = (line[:last.end_col_offset] + b";" + line[last.end_col_offset:]).decode()
    starts = [s.lineno - 1 for s in body]
    # a statement owns the comment lines just above it
    for i in range(len(body)):
        while starts[i] > (body[i - 1].end_lineno if i else 0) and lines[starts[i] - 1].lstrip().startswith("#"):
            starts[i] -= 1
    ends = [starts[i + 1] if i + 1 < len(body) else len(lines) for i in range(len(body))]
    head = lines[: starts[0]]
    compute = head + [line for s, k, a, b in zip(body, keep, starts, ends) if not k for line in lines[a:b]]
    books = "\n".join(line for s, k, a, b in zip(body, keep, starts, ends) if k for line in lines[a:b]).rstrip()
    return "\n".join(compute).rstrip(), books


def split_cells(path: Path) -> int:
    """Move each mixed cell's claim/holds/glue statements into a cell of their own, just after it."""
    nb = nbformat.read(path, as_version=4)
    cells, moved = [], 0
    for cell in nb.cells:
        parts = split(cell.source) if cell.cell_type == "code" else None
        if parts is None:
            cells.append(cell)
            continue
        cell.source = parts[0]
        cells += [cell, nbformat.v4.new_code_cell(parts[1])]
        moved += 1
    if moved:
        nb.cells = cells
        nbformat.write(nb, path)
    return moved


def retag(path: Path) -> int:
    """Set or clear the tag on every code cell of ``path``; returns the number of cells changed."""
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = list(cell.metadata.get("tags", []))
        want = is_bookkeeping(cell.source)
        if want != (TAG in tags):
            tags = tags + [TAG] if want else [t for t in tags if t != TAG]
            if tags:
                cell.metadata["tags"] = tags
            else:
                cell.metadata.pop("tags", None)
            changed += 1
    if changed:
        nbformat.write(nb, path)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--split", action="store_true",
                        help="first move the claim/holds/glue statements of mixed cells into cells of their own")
    args = parser.parse_args()
    for path in args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb")):
        if args.split:
            print(f"{path}: {split_cells(path)} cells split")
        print(f"{path}: {retag(path)} cells retagged")


if __name__ == "__main__":
    main()
