"""The website's configuration: one repository URL, launch buttons, an offline site, publishing.

* ``repository.url`` in ``_config.yml`` is the one source of the repository's
  address: ``vae_lib.book.REPOSITORY_URL``, every chapter's install cell,
  CONTRIBUTING.md's template, ``CITATION.cff`` and the workflow must agree with it;
* the Sphinx configuration that Jupyter Book derives has the launch buttons
  (Colab, Binder), the download and repository buttons, branch ``main``, and the
  local extension ``_ext/book_site.py``;
* that extension serves MathJax 3 from the site and switches execution with
  ``BOOK_EXECUTE`` (checked on a two-page Sphinx build);
* the publishing workflow and the make targets do what the README says;
* a workflow runs ``.ci/run`` (in a Debian container) on every push and pull request.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
import book_site  # noqa: E402  (the local Sphinx extension under test)

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
BUILD = "jupyter-book build . --all -W -n --keep-going"


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def url() -> str:
    return config()["repository"]["url"]


def org_repo() -> tuple[str, str]:
    org, repo = urlsplit(url()).path.strip("/").split("/")
    return org, repo


# --- One repository URL ----------------------------------------------------------------------------


def test_repository_url_is_a_github_repository_on_main():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url()), f"repository.url {url()!r}"
    assert config()["repository"]["branch"] == "main"


def test_package_names_the_same_repository():
    from vae_lib.book import REPOSITORY_URL
    assert REPOSITORY_URL == url()


def test_install_cells_name_the_same_repository():
    template = (ROOT / "CONTRIBUTING.md").read_text()
    assert f'"vae_lib @ git+{url()}@v' in template  # @v<version>: tests/test_colab_install.py checks the tag
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert code, f"{path.name} has no code cell"
        first = "".join(code[0]["source"])
        assert f'"vae_lib @ git+{url()}@v' in first, f"{path.name}: the install cell must name {url()}"
        addresses = set(re.findall(r"https?://[^\s\"']+", "".join("".join(c["source"]) for c in code)))
        others = {a for a in addresses if "github.com" in a and not a.startswith(url())}
        assert not others, f"{path.name} names another repository: {others}"


def test_citation_file_names_the_same_repository_and_site():
    path = ROOT / "CITATION.cff"
    if not path.exists():
        pytest.skip("no CITATION.cff yet")
    cff = yaml.safe_load(path.read_text())
    org, repo = org_repo()
    site = f"https://{org}.github.io/{repo}/"  # GitHub Pages of the repository (the workflow publishes there)
    for record in (cff, cff.get("preferred-citation", {})):
        if "repository-code" in record:
            assert record["repository-code"] == url()
        if "url" in record:
            assert record["url"].startswith(site), f"{record['url']} is not on {site}"


def test_workflows_name_no_other_repository():
    assert WORKFLOWS, "no workflow in .github/workflows"
    for path in WORKFLOWS:
        for address in re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", path.read_text()):
            assert address == url(), f"{path.name} names {address}, not {url()}"


# --- What Jupyter Book hands to Sphinx -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sphinx_config() -> dict:
    from jupyter_book.config import get_final_config
    final, _ = get_final_config(user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False},
                                sourcedir=ROOT, validate=True, raise_on_invalid=True)
    return final


def test_launch_buttons_download_and_repository(sphinx_config):
    theme = sphinx_config["html_theme_options"]
    assert theme["repository_url"] == url() and theme["repository_branch"] == "main"
    assert theme["path_to_docs"] == "", "launch links are built from the notebooks' paths in the repository"
    launch = theme["launch_buttons"]
    assert launch["colab_url"] == "https://colab.research.google.com"
    assert launch["binderhub_url"] == "https://mybinder.org"
    assert not launch.get("thebe"), "thebe would load its code from a CDN"
    assert theme["use_repository_button"] is True
    assert config()["html"]["use_download_button"] is True


def test_the_local_extension_and_offline_settings_are_in_place(sphinx_config):
    assert "book_site" in sphinx_config["extensions"]
    assert config()["sphinx"]["local_extensions"]["book_site"] == "_ext"
    assert (ROOT / "_ext" / "book_site.py").is_file()
    assert sphinx_config["nb_ipywidgets_js"] == {}, "the default loads RequireJS and the widget manager from CDNs"
    assert sphinx_config["math_numfig"] is True and sphinx_config["numfig"] is True
    assert sphinx_config["nb_execution_mode"] == "force", "`make book` executes every chapter"


# --- The extension ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", book_site.EXECUTION_MODES)
def test_book_execute_overrides_the_configured_mode(value):
    assert book_site.execution_mode({"BOOK_EXECUTE": value}, "force") == value


def test_without_book_execute_the_configured_mode_stays():
    assert book_site.execution_mode({}, "force") == "force"
    assert book_site.execution_mode({"BOOK_EXECUTE": " "}, "cache") == "cache"


def test_a_wrong_book_execute_is_refused_by_name():
    with pytest.raises(ValueError, match="BOOK_EXECUTE must be one of off, force"):
        book_site.execution_mode({"BOOK_EXECUTE": "no"}, "force")


def test_mathjax_copied_is_version_3_with_its_fonts(tmp_path):
    count = book_site.copy_mathjax(tmp_path)
    component = tmp_path / book_site.MATHJAX_COMPONENT
    version = re.search(r'VERSION\s*=\s*"(\d+\.\d+\.\d+)"', component.read_text())
    assert version and version.group(1).startswith("3."), "not MathJax 3"
    assert len(list((tmp_path / "output/chtml/fonts/woff-v2").glob("MathJax_*.woff"))) >= 20
    assert (tmp_path / "input/tex/extensions/ams.js").is_file() and (tmp_path / "LICENSE").is_file()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == count + 1  # + LICENSE
    assert sum(p.stat().st_size for p in files) < 12e6, "copy only what the pages can load"


SMALL_NOTEBOOK = {
    "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Page\n\n```{math}\n:label: one\na = b\n```\n"},
              {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
               "source": "print(6 * 7, 'computed')"}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def _sphinx(tmp_path: Path, execute: str | None) -> str:
    src, out = tmp_path / "src", tmp_path / f"out-{execute}"
    src.mkdir(exist_ok=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / '_ext')!r})\n"
        "extensions = ['myst_nb', 'book_site']\nnb_execution_mode = 'force'\nmath_numfig = True\n"
        "exclude_patterns = ['_build']\n")
    (src / "index.ipynb").write_text(json.dumps(SMALL_NOTEBOOK))
    env = {k: v for k, v in os.environ.items() if k != "BOOK_EXECUTE"}
    if execute is not None:
        env["BOOK_EXECUTE"] = execute
    done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-q", str(src), str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "_static" / "mathjax" / book_site.MATHJAX_COMPONENT).is_file()
    return (out / "index.html").read_text()


def test_sphinx_build_serves_mathjax_locally_and_obeys_book_execute(tmp_path):
    stored = _sphinx(tmp_path, "off")
    assert re.search(r'<script [^>]*src="_static/mathjax/tex-mml-chtml\.js"', stored)
    assert "cdn.jsdelivr" not in stored and 'id="equation-one"' in stored
    assert "42 computed" not in stored, "BOOK_EXECUTE=off executed the notebook"
    executed = _sphinx(tmp_path, None)
    assert "42 computed" in executed, "without BOOK_EXECUTE the configured mode (force) must execute"
    assert executed.count("THEBE_JS_URL") <= 1


# --- Publishing and the make targets ---------------------------------------------------------------------


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the bare key `on` as a boolean
    return data


def _workflow() -> dict:
    """The publishing workflow: the one that deploys to gh-pages."""
    flows = [f for f in map(_load, WORKFLOWS)
             if any(s.get("uses", "").startswith("peaceiris/actions-gh-pages@")
                    for job in f["jobs"].values() for s in job["steps"])]
    assert len(flows) == 1, f"one publishing workflow expected among {[p.name for p in WORKFLOWS]}"
    return flows[0]


def _events(flow: dict) -> set[str]:
    on = flow["on"]
    return {on} if isinstance(on, str) else set(on)


def test_workflow_publishes_main_and_release_tags():
    flow = _workflow()
    push = flow["on"]["push"]
    assert push["branches"] == ["main"]
    assert any(fnmatch.fnmatch("v1.2.3", pattern) for pattern in push["tags"])
    assert not any(fnmatch.fnmatch("1.2.3", pattern) for pattern in push["tags"])
    assert flow["permissions"]["contents"] == "write"
    (job,) = flow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    steps = job["steps"]
    assert any(s.get("uses", "").startswith("actions/checkout@") for s in steps)
    builds = [i for i, s in enumerate(steps) if s.get("run", "").strip() == "make book"]
    assert builds, "the workflow must build with the README's command, `make book`"
    deploys = [(i, s) for i, s in enumerate(steps) if s.get("uses", "").startswith("peaceiris/actions-gh-pages@")]
    assert len(deploys) == 2 and all(i > builds[0] for i, _ in deploys)
    latest = [s for _, s in deploys if s["if"].replace(" ", "") == "github.ref=='refs/heads/main'"]
    release = [s for _, s in deploys if s["if"].replace(" ", "") == "startsWith(github.ref,'refs/tags/v')"]
    assert len(latest) == 1 and len(release) == 1
    for step in (latest[0], release[0]):
        assert step["with"]["publish_dir"].rstrip("/") in {"./_build/html", "_build/html"}
        assert step["with"]["keep_files"] is True, "each publication must keep the others"
        assert "secrets.GITHUB_TOKEN" in step["with"]["github_token"]
    assert "destination_dir" not in latest[0]["with"], "the latest book lives at the site's root"
    assert release[0]["with"]["destination_dir"].replace(" ", "") == "${{github.ref_name}}"


def _make_recipe(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text().replace("$(BUILD_SITE)", f".venv/bin/{BUILD}")
    recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe, f"no `{target}` target in the Makefile"
    return [line.strip() for line in recipe.group(1).splitlines()]


def test_make_book_executes_and_make_test_executes_once():
    assert _make_recipe("book")[:2] == [f".venv/bin/{BUILD}", "$(BUILD_ZH)"], "`make book` is the plain, executing build"
    first, build, zh, browser = _make_recipe("test")
    assert zh == "$(BUILD_ZH)", "the Chinese edition (from the stored outputs) is built before the browser test"
    assert "--path-output _build/zh" in "".join(_make_recipe("_build/html/zh"))
    assert first.startswith(".venv/bin/python -m pytest") and "--ignore=tests/test_browser.py" in first
    assert build == f"BOOK_EXECUTE=off .venv/bin/{BUILD}", "the site for the browser test reuses the stored outputs"
    assert browser.startswith("BOOK_SITE_DIR=_build/html ") and browser.endswith("pytest tests/test_browser.py")


def test_ci_installs_chromium_then_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"apt-get install .*\bchromium chromium-driver\b", script)
    assert script.index("apt-get update") < script.index("apt-get install") < script.index("make test")
    assert "playwright install" not in script


def test_a_workflow_runs_ci_on_every_push_and_pull_request():
    runs = []
    for path in WORKFLOWS:
        flow = _load(path)
        for job in flow["jobs"].values():
            if any(s.get("run", "").strip() == "bash .ci/run" for s in job["steps"]):
                runs.append((path, flow, job))
    assert runs, "no workflow runs `bash .ci/run`"
    assert any({"push", "pull_request"} <= _events(flow) for _, flow, _ in runs), \
        "`.ci/run` must run on both push and pull_request"
    for path, _, job in runs:
        # Debian, for .ci/run's `apt-get install chromium` (a snap on Ubuntu); no GPU runner.
        image = job["container"]["image"] if isinstance(job["container"], dict) else job["container"]
        assert image.startswith("debian:"), f"{path.name}: .ci/run needs a Debian container, not {image}"
        assert job["runs-on"] == "ubuntu-latest" and str(job["env"]["CI"]).lower() == "true"
        steps = job["steps"]
        checkout = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/checkout@"))
        ci = next(i for i, s in enumerate(steps) if s.get("run", "").strip() == "bash .ci/run")
        assert checkout < ci
        hosts = set(re.findall(r"https?://([^/\s\"']+)", path.read_text())) - {"github.com"}
        assert not hosts, f"{path.name} names other hosts: {hosts}"


def test_pytest_never_collects_the_built_site():
    import configparser
    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini")
    assert "_build" in ini["pytest"]["norecursedirs"].split()
    assert "_build" not in ini["pytest"]["testpaths"]
