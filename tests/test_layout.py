"""The tree shows the architecture: the library never imports the chapter helpers or the book's machinery."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import vae_lib

PACKAGE = Path(vae_lib.__file__).parent


def _imports(path: Path) -> set[str]:
    """Modules a file imports, resolved to dotted names inside vae_lib where relative."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                pkg = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-node.level]
                base = ".".join([*pkg, base] if base else pkg)
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def test_the_library_never_imports_chapters_or_book():
    core = [p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert {p.stem for p in core} >= {"data", "models", "objectives", "training", "evaluation", "plotting", "params"}
    for path in core:
        bad = {n for n in _imports(path) if n.startswith(("vae_lib.chapters", "vae_lib.book"))}
        assert not bad, f"{path.name} imports {bad}: the library must not depend on chapters/ or book/"


def test_every_chapter_helper_names_the_chapter_that_introduced_it():
    modules = [p for p in (PACKAGE / "chapters").glob("*.py") if p.name != "__init__.py"]
    assert len(modules) >= 9
    for path in modules:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert re.search(r"Introduced in chapter [1-8]\b[^\n]*\.$", doc.strip()), f"{path.name}: docstring must end "
        "with 'Introduced in chapter N ...'"


def test_no_module_shares_a_name_with_a_function():
    import inspect

    modules = {p.stem for p in PACKAGE.rglob("*.py")}
    for name, module in [("chapters", vae_lib.chapters), ("book", vae_lib.book)]:
        for sub in vars(module).values():
            if inspect.ismodule(sub):
                clashes = {n for n, f in inspect.getmembers(sub, inspect.isfunction) if n in modules}
                assert not clashes, f"{sub.__name__} defines functions named like modules: {clashes}"


def test_the_benchmark_is_not_installed_with_the_package():
    assert not (PACKAGE / "bench.py").exists()
    assert (PACKAGE.parent / "benchmarks" / "bench.py").is_file()
