"""The chapters' Colab entry: the first code cell installs vae_lib in Colab, and only there.

Every chapter starts with the install cell that CONTRIBUTING.md fixes. Here it is
run three ways:

* outside Colab (no ``google.colab`` module): it starts no process at all;
* with a fake ``google.colab`` module: it calls pip once, on this interpreter,
  for ``vae_lib @ git+<repository>``;
* for real, in a fresh virtual environment standing in for a Colab runtime: the
  packages Colab ships (torch and vae_lib's other dependencies) are made visible
  to it through a ``.pth`` file (symbolic links into .venv, so no copy and no
  download), vae_lib is not; the repository URL is replaced by a ``git+file://``
  clone of the working tree. The cell must install vae_lib from that clone
  and nothing else: torch stays the one Colab had, neither reinstalled nor upgraded.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
GIT_ID = ["-c", "user.name=vi-book tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false"]


def template_cell() -> str:
    """The install cell exactly as CONTRIBUTING.md gives it."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    block = re.search(r"First code cell, exactly.*?```python\n(.*?)\n\s*```", text, re.S)
    assert block, "CONTRIBUTING.md no longer shows the install cell"
    lines = block.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines)


def first_code_cells() -> dict[str, str]:
    cells = {}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        cells[path.name] = "".join(code[0]["source"]) if code else ""
    return cells


def repository_url() -> str:
    from vae_lib.book import REPOSITORY_URL
    return REPOSITORY_URL


def test_every_chapter_starts_with_the_install_cell():
    cell = template_cell()
    assert f'"vae_lib @ git+{repository_url()}"' in cell
    cells = first_code_cells()
    if not cells:
        pytest.skip("no chapter notebook yet")
    wrong = [name for name, source in cells.items() if source.strip() != cell.strip()]
    assert not wrong, f"these chapters' first code cell is not CONTRIBUTING.md's install cell: {wrong}"


def _run_cell(cell: str, monkeypatch, in_colab: bool) -> list:
    """Execute the cell in this process, recording (not running) every process it would start."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append((args, kwargs))
        return subprocess.CompletedProcess(args, 0)

    class NoPopen:
        def __init__(self, *args, **kwargs):
            calls.append((args, kwargs))
            raise AssertionError("the install cell started a process")

    for name in ("run", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, refuse)
    monkeypatch.setattr(subprocess, "Popen", NoPopen)
    monkeypatch.setattr(os, "system", refuse)
    for name in [m for m in sys.modules if m == "google" or m.startswith("google.")]:
        monkeypatch.delitem(sys.modules, name)
    if in_colab:
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(cell, "<install cell>", "exec"), {"__name__": "__main__"})
    return calls


def test_outside_colab_the_cell_starts_no_process(monkeypatch):
    assert _run_cell(template_cell(), monkeypatch, in_colab=False) == []


def test_in_colab_the_cell_calls_pip_once_for_the_repository(monkeypatch):
    calls = _run_cell(template_cell(), monkeypatch, in_colab=True)
    assert len(calls) == 1
    (args, kwargs), = calls
    assert args == ([sys.executable, "-m", "pip", "install", "-q", f"vae_lib @ git+{repository_url()}"],)
    assert kwargs == {"check": True}, "a failed install must stop the notebook"


# --- The real install, in a stand-in for a Colab runtime -----------------------------------------------


def _closure(names: list[str]) -> set[str]:
    """The installed distributions ``names`` need, transitively (their own markers honoured)."""
    seen, todo = set(), [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in md.distribution(name).requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def _link_preinstalled(names: set[str], folder: Path) -> None:
    """Symlink each distribution's top-level files (package, .dist-info, .libs) into ``folder``."""
    folder.mkdir()
    for name in names:
        dist = md.distribution(name)
        base = Path(dist.locate_file(""))
        # RECORD lists the package, its .dist-info folder and any vendored .libs (scripts in ../bin are left out)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        assert any(top.endswith(".dist-info") for top in tops), f"{name}: no RECORD to link from"
        for top in tops:
            if (base / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(base / top)


def _clone_working_tree(target: Path) -> None:
    """A git repository holding the working tree as it would be committed (tracked and new files)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target / rel)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=target, check=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    subprocess.run(["git", *GIT_ID, "commit", "-q", "-m", "stand-in"], cwd=target, check=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (pip installs from a git URL)")
def test_in_colab_the_cell_installs_vae_lib_and_leaves_torch_alone(tmp_path):
    repo, venv, preinstalled = tmp_path / "repo", tmp_path / "colab", tmp_path / "preinstalled"
    repo.mkdir()
    _clone_working_tree(repo)

    # A fresh Python with Colab's packages (vae_lib's dependencies, pip, setuptools) but no vae_lib.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    vae_deps = [Requirement(r).name for r in md.distribution("vae_lib").requires or []
                if Requirement(r).marker is None]
    shipped = _closure([*vae_deps, "pip", "setuptools"])
    assert "torch" in shipped and "vae-lib" not in shipped
    _link_preinstalled(shipped, preinstalled)
    (site / "colab_preinstalled.pth").write_text(f"{preinstalled}\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull,  # none of this machine's pip settings
               PIP_NO_INDEX="1",  # no registry: everything must come from the clone and what is shipped
               PIP_NO_BUILD_ISOLATION="0",  # i.e. --no-build-isolation: build with the shipped setuptools
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1", HOME=str(tmp_path))

    def py(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)

    # where torch is and which version, read without importing it (slow); after the install,
    # vae_lib is imported for real, which imports torch from wherever it then is
    probe = ("import json, importlib.util as u, importlib.metadata as m; d = m.distribution('torch'); "
             "print(json.dumps([u.find_spec('torch').origin, str(d.locate_file('')), d.version]))")
    before = py(probe)
    assert before.returncode == 0, before.stderr
    torch_before = json.loads(before.stdout)
    hidden = py("import vae_lib")
    assert hidden.returncode != 0 and "No module named 'vae_lib'" in hidden.stderr, \
        "vae_lib must not be importable before the install"
    entries_before = set(os.listdir(site))

    cell = template_cell().replace(f"git+{repository_url()}", f"git+file://{repo}")
    assert f"git+file://{repo}" in cell
    run = py("import sys, types\n"
             "sys.modules['google'] = types.ModuleType('google')\n"
             "sys.modules['google.colab'] = types.ModuleType('google.colab')\n" + cell)
    assert run.returncode == 0, f"the install cell failed in the Colab stand-in:\n{run.stdout}\n{run.stderr}"

    after = py(probe + "; import vae_lib, torch; print(json.dumps([vae_lib.__file__, vae_lib.__version__, torch.__file__]))")
    assert after.returncode == 0, after.stderr
    torch_after, (vae_file, vae_version, torch_file) = (json.loads(line) for line in after.stdout.splitlines())
    assert torch_after == torch_before, "torch was reinstalled or upgraded"
    assert torch_file == torch_before[0], f"vae_lib runs on another torch: {torch_file}"
    assert Path(torch_file).is_relative_to(preinstalled), "torch is not the one the runtime shipped"
    assert Path(vae_file).resolve().is_relative_to(site.resolve()), f"vae_lib imported from {vae_file}"
    assert vae_version == md.version("vae_lib")
    added = set(os.listdir(site)) - entries_before
    assert added == {"vae_lib", f"vae_lib-{vae_version}.dist-info"}, f"the install added {sorted(added)}"
    assert not any(name.lower().startswith("torch") for name in os.listdir(site))
