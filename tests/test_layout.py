"""The tree shows the architecture: the library never imports the chapter helpers or the book's machinery."""
from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vae_lib
from vae_lib import models

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
    import importlib
    import inspect

    modules = {p.stem for p in PACKAGE.rglob("*.py")}
    names = [f"vae_lib.chapters.{p.stem}" for p in (PACKAGE / "chapters").glob("*.py") if p.stem != "__init__"]
    for name in [*names, "vae_lib.book", "vae_lib.book.live"]:
        sub = importlib.import_module(name)
        clashes = {n for n, f in inspect.getmembers(sub, inspect.isfunction) if n in modules}
        assert not clashes, f"{sub.__name__} defines functions named like modules: {clashes}"


_LOADED = "import sys, {module}; print(sorted(m for m in sys.modules if 'chapters' in m or 'matplotlib' in m " \
          "or m.startswith('vae_lib.book')))"


@pytest.mark.parametrize("module", ["vae_lib", "vae_lib.objectives", "vae_lib.training", "vae_lib.models",
                                    "vae_lib.data", "vae_lib.evaluation", "vae_lib.params"])
def test_the_front_door_loads_only_the_core(module):
    """Issue 19: importing the library (or any core module) loads no chapter helper, no book and no matplotlib."""
    out = subprocess.run([sys.executable, "-c", _LOADED.format(module=module)], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", f"import {module} loaded {out.strip()}"


def test_one_chapter_helper_loads_alone_and_the_book_on_demand():
    code = ("import sys, vae_lib; from vae_lib.chapters import latent; "
            "print(sorted(m for m in sys.modules if m.startswith('vae_lib.chapters'))); "
            "print(callable(vae_lib.book.setup), 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "['vae_lib.chapters', 'vae_lib.chapters.latent']"
    assert out[1] == "True True", "vae_lib.book loads when first named, and brings matplotlib"


def test_the_benchmark_is_not_installed_with_the_package():
    assert not (PACKAGE / "bench.py").exists()
    assert (PACKAGE.parent / "benchmarks" / "bench.py").is_file()


def test_modules_and_functions_stay_small():
    """Issue 19: no module of vae_lib over 350 lines, no function over 60 (docstring included)."""
    long_modules, long_functions = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        if len(source.splitlines()) > 350:
            long_modules.append(f"{path.relative_to(PACKAGE)}: {len(source.splitlines())}")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long_functions.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert not long_modules, f"split these by job: {long_modules}"
    assert not long_functions, f"split these: {long_functions}"


RETIRED = {  # name -> the one name now (CONTRIBUTING.md, "Vocabulary in code")
    "kl_weight": "beta", "hidden_beta_s0": "hidden_beta(D, s0**2)", "n_pixels": "D",
    "noise_variance": "variance", "own_variance": "variance", "log_s2": "log_variance", "s2_range": "variance_range",
    "gap_explorer": "evidence_explorer", "log_scale": "logvar_shift", "scale_range": "logvar_range",
    "elbo-gap": "evidence-decomposition (chapter 4's explorer)",
}


def test_retired_names_are_gone():
    """Issue 19: one name per concept, in the library, the tests, the scripts, the chapters' code and the
    explorers' script. The reparameterisation and the log-variance-to-std conversion are written once
    (models, params), and the auto-encoder's code is ``code(x)``: ``encode`` is the VAE's, (mu, logvar)."""
    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py")}
    others = [*(PACKAGE.parent / "tests").glob("*.py"), *(PACKAGE.parent / "scripts").glob("*.py"),
              PACKAGE / "book" / "explorers.js"]
    code_cells = {p: "\n".join("".join(c["source"]) for c in json.loads(p.read_text())["cells"]
                               if c["cell_type"] == "code") for p in (PACKAGE.parent / "chapters").glob("*.ipynb")}
    for path, text in {**sources, **code_cells, **{p: p.read_text() for p in others}}.items():
        if path.name in ("test_layout.py", "test_objectives.py"):  # they name what must be gone
            continue
        for old, new in RETIRED.items():
            assert not re.search(rf"(?<![\w-]){re.escape(old)}(?![\w-])", text), f"{path.name} still says {old}: now {new}"
    assert not re.search(r"def encode", inspect.getsource(models.AutoEncoder))
    inline_std = [p.name for p, s in sources.items() if re.search(r"torch\.exp\(0\.5 \* ", s)]
    assert inline_std == ["params.py"], f"convert with params.logvar_to_std: {inline_std}"


def test_each_public_name_has_one_import_path():
    """Issue 19: the KLs live in vae_lib.divergences and are imported from there only; objectives uses
    them without re-exporting them, so no module, test or chapter reaches a KL through objectives."""
    from vae_lib import divergences, objectives

    assert not set(divergences.__all__) & set(objectives.__all__)
    div = set(divergences.__all__)
    files = [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "tests").glob("*.py"), *(PACKAGE.parent / "scripts").glob("*.py"),
             *(PACKAGE.parent / "benchmarks").glob("*.py")]
    texts = {p: p.read_text() for p in files}
    texts |= {p: "\n".join("".join(c["source"]) for c in json.loads(p.read_text())["cells"])
              for p in (PACKAGE.parent / "chapters").glob("*.ipynb")}
    for path, text in texts.items():
        for name in div:
            assert not re.search(rf"\bobjectives\.{name}\b|\bO\.{name}\b", text), f"{path.name}: {name} via objectives"
        for m in re.finditer(r"from (?:vae_lib|\.\.?)\.?objectives import \(?([^)\n]*(?:\n[^)\n]*)*?)\)?$", text, re.M):
            assert not div & set(re.findall(r"\w+", m.group(1))), f"{path.name}: {m.group(0)}"
