"""The chapters' Colab entry: the first code cell installs vae_lib in Colab, and only there.

Every chapter starts with the install cell that CONTRIBUTING.md fixes. Here it is
run three ways:

* outside Colab (no ``google.colab`` module): it starts no process at all;
* with a fake ``google.colab`` module: it calls pip once, on this interpreter,
  for ``vae_lib @ git+<repository>@v<version>``, the release the notebook belongs to;
* for real, in a fresh virtual environment standing in for a Colab runtime: the
  packages Colab ships (torch and vae_lib's other dependencies) are made visible
  to it through a ``.pth`` file (symbolic links into .venv, so no copy and no
  download), vae_lib is not; the repository URL is replaced by a ``git+file://``
  clone of the working tree, tagged with the release. The cell must install
  vae_lib from that clone and nothing else: torch stays the one Colab had,
  neither reinstalled nor upgraded;
* as a dry run of pip against Colab's own versions (``colab_runtime.txt``), faked
  as installed distributions: pip must plan to install vae_lib and nothing else.
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
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

import vae_lib

ROOT = Path(__file__).resolve().parent.parent
COLAB_RUNTIME = Path(__file__).with_name("colab_runtime.txt")
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


def release_tag() -> str:
    return f"v{vae_lib.__version__}"


def install_requirement() -> str:
    """What the cell asks pip for: vae_lib at this version's release tag."""
    return f"vae_lib @ git+{repository_url()}@{release_tag()}"


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_install_cell_pins_this_release():
    match = re.search(r'"vae_lib @ git\+(?P<url>[^"@]+)@(?P<tag>[^"]+)"', template_cell())
    assert match, "the install cell must name vae_lib @ git+<repository>@<tag>"
    assert match["url"] == repository_url()
    assert match["tag"] == release_tag(), f"the install cell installs {match['tag']}, not {release_tag()}"
    assert pyproject()["project"]["version"] == vae_lib.__version__, "pyproject.toml and vae_lib.__version__ differ"


def test_every_chapter_starts_with_the_install_cell():
    cell = template_cell()
    assert f'"{install_requirement()}"' in cell
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
    assert args == ([sys.executable, "-m", "pip", "install", "-q", install_requirement()],)
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
    """A git repository holding the working tree as it would be committed (tracked and new files),
    tagged as this version's release."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target / rel)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=target, check=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    subprocess.run(["git", *GIT_ID, "commit", "-q", "-m", "stand-in"], cwd=target, check=True)
    subprocess.run(["git", "tag", release_tag()], cwd=target, check=True)


def _offline_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull,  # none of this machine's pip settings
               PIP_NO_INDEX="1",  # no registry: everything must come from the clone and what is shipped
               PIP_NO_BUILD_ISOLATION="0",  # i.e. --no-build-isolation: build with the shipped setuptools
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1", HOME=str(home))
    return env


def _fresh_venv(venv: Path) -> tuple[Path, Path]:
    """A Python with no packages at all: its interpreter and its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    return python, site


def _runtime_deps() -> list[Requirement]:
    return [Requirement(r) for r in pyproject()["project"]["dependencies"]]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (pip installs from a git URL)")
def test_in_colab_the_cell_installs_vae_lib_and_leaves_torch_alone(tmp_path):
    repo, venv, preinstalled = tmp_path / "repo", tmp_path / "colab", tmp_path / "preinstalled"
    repo.mkdir()
    _clone_working_tree(repo)

    # A fresh Python with Colab's packages (vae_lib's dependencies, pip, setuptools) but no vae_lib.
    python, site = _fresh_venv(venv)
    vae_deps = [r.name for r in _runtime_deps() if r.marker is None]
    shipped = _closure([*vae_deps, "pip", "setuptools"])
    assert "torch" in shipped and "vae-lib" not in shipped
    _link_preinstalled(shipped, preinstalled)
    (site / "colab_preinstalled.pth").write_text(f"{preinstalled}\n")
    env = _offline_env(tmp_path)

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

    cell = template_cell().replace(f"git+{repository_url()}@", f"git+file://{repo}@")
    assert f"git+file://{repo}@{release_tag()}" in cell
    run = py("import sys, types\n"
             "sys.modules['google'] = types.ModuleType('google')\n"
             "sys.modules['google.colab'] = types.ModuleType('google.colab')\n" + cell)
    assert run.returncode == 0, f"the install cell failed in the Colab stand-in:\n{run.stdout}\n{run.stderr}"

    # the embedded MNIST subset is read too: it must have shipped with the installed package
    after = py(probe + "; import vae_lib, torch; print(json.dumps([vae_lib.__file__, vae_lib.__version__, "
               "torch.__file__, len(vae_lib.data.load_embedded_mnist().labels)]))")
    assert after.returncode == 0, after.stderr
    torch_after, (vae_file, vae_version, torch_file, n_embedded) = map(json.loads, after.stdout.splitlines())
    assert torch_after == torch_before, "torch was reinstalled or upgraded"
    assert torch_file == torch_before[0], f"vae_lib runs on another torch: {torch_file}"
    assert Path(torch_file).is_relative_to(preinstalled), "torch is not the one the runtime shipped"
    assert Path(vae_file).resolve().is_relative_to(site.resolve()), f"vae_lib imported from {vae_file}"
    assert vae_version == vae_lib.__version__
    assert n_embedded == 5000
    added = set(os.listdir(site)) - entries_before
    assert added == {"vae_lib", f"vae_lib-{vae_version}.dist-info"}, f"the install added {sorted(added)}"
    assert not any(name.lower().startswith("torch") for name in os.listdir(site))


# --- A dry run against Colab's own versions --------------------------------------------------------------


def colab_runtime() -> dict[str, tuple[str, str]]:
    """colab_runtime.txt as {canonical name: (name, version)}."""
    packages = {}
    for line in COLAB_RUNTIME.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            packages[canonicalize_name(name)] = (name, version)
    return packages


def _fake_installed(site: Path, name: str, version: str) -> None:
    """A distribution pip counts as installed: metadata only, no files."""
    info = site / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


def _fake_wheel(folder: Path, name: str, version: str) -> None:
    """A wheel of ``name`` holding metadata only: something newer for pip to upgrade to, if it wanted."""
    stem = f"{re.sub(r'[-_.]+', '_', name)}-{version}"
    with zipfile.ZipFile(folder / f"{stem}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{stem}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        whl.writestr(f"{stem}.dist-info/WHEEL",
                     "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{stem}.dist-info/RECORD", "")


def test_colab_python_is_admitted():
    # the dry run below resolves on this machine's Python, not Colab's 3.12: this is checked instead
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains("3.12")


def test_every_requirement_is_met_by_colabs_recorded_version():
    colab = colab_runtime()
    for req in _runtime_deps():
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.12", "extra": ""}):
            continue  # not required on Colab's Python
        assert canonicalize_name(req.name) in colab, f"{COLAB_RUNTIME.name} records no version of {req.name}"
        version = colab[canonicalize_name(req.name)][1]
        assert req.specifier.contains(version, prereleases=True), \
            f"Colab's {req.name} {version} does not meet vae_lib's {req}: the install cell would replace it"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (pip installs from a git URL)")
def test_on_colabs_recorded_packages_the_cell_installs_vae_lib_alone(tmp_path):
    repo, tools = tmp_path / "repo", tmp_path / "tools"
    repo.mkdir()
    _clone_working_tree(repo)

    # Colab's packages as fakes (pip reads only their metadata; they declare no requirements of
    # their own, so what is resolved is vae_lib's requirements against Colab's versions). pip and
    # the build backend are this machine's, linked in, and setuptools is not faked: a fake would
    # hide the real one's entry points, which the build needs. In Colab the backend
    # (setuptools>=77) is fetched into pip's isolated build environment; Colab's 75 stays as it is.
    python, site = _fresh_venv(tmp_path / "colab")
    colab = colab_runtime()
    build_tools = _closure(["pip", "setuptools"])
    for key, (name, version) in colab.items():
        if key not in build_tools:
            _fake_installed(site, name, version)
    _link_preinstalled(build_tools, tools)
    (site / "build_tools.pth").write_text(f"{tools}\n")
    before = sorted(os.listdir(site))
    # In Colab pip could upgrade from PyPI; here a newer fake of each requirement stands in for it,
    # so a floor Colab misses shows up as a planned upgrade instead of a resolution error.
    newer = tmp_path / "newer"
    newer.mkdir()
    for req in _runtime_deps():
        _fake_wheel(newer, req.name, "9999")

    requirement = install_requirement().replace(f"git+{repository_url()}@", f"git+file://{repo}@")
    report = tmp_path / "report.json"
    run = subprocess.run([str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
                          "--no-index", "--find-links", str(newer), "--no-build-isolation", requirement],
                         cwd=tmp_path, env=_offline_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"pip cannot install vae_lib on Colab's recorded packages:\n{run.stderr}"

    plan = json.loads(report.read_text())
    installs = {canonicalize_name(item["metadata"]["name"]): item for item in plan["install"]}
    changed = {f"{colab[n][0]} {colab[n][1]} -> {item['metadata']['version']}"
               for n, item in installs.items() if n in colab}
    assert not changed, f"the install cell would replace Colab's packages: {sorted(changed)}"
    assert set(installs) == {"vae-lib"}, f"the install cell would also install {sorted(set(installs) - {'vae-lib'})}"
    vae = installs["vae-lib"]
    assert vae["metadata"]["version"] == vae_lib.__version__
    assert vae["download_info"]["url"] == f"file://{repo}"
    assert vae["download_info"]["vcs_info"]["requested_revision"] == release_tag()
    # honest about the stand-in: the plan was made for this machine's Python (3.11), not Colab's 3.12
    # (test_colab_python_is_admitted covers that)
    assert plan["environment"]["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert sorted(os.listdir(site)) == before, "a dry run changed the environment"
