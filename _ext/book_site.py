"""Local Sphinx extension of the book: an offline site and a switch for notebook execution.

Registered in ``_config.yml`` under ``sphinx: local_extensions: {book_site: _ext}``.

* **Offline equations.** MathJax 3 is served from the built site itself, never
  from a CDN: the extension points ``mathjax_path`` at ``_static/mathjax/`` and,
  when an HTML build finishes, copies there the part of MathJax that the page
  can load (the combined ``tex-mml-chtml.js`` component, its fonts, the TeX
  extensions it autoloads, its menu and accessibility modules). The files come
  from the PyPI package ``django-static-mathjax`` (an unmodified MathJax 3.2.2
  release), so nothing is vendored in the repository and nothing is fetched at
  build or reading time.
* **A clean console.** Two small fixes so a page logs no error in the browser:
  a repeated inline script (a Sphinx 7.4 quirk) is dropped, and the theme's
  colour mode is set (``auto``) instead of left empty.
* **Execution switch.** ``BOOK_EXECUTE`` (one of ``off``, ``force``, ``auto``,
  ``cache``, ``inline``), when set, replaces ``execute_notebooks`` for one
  build. ``make test`` builds the site with ``BOOK_EXECUTE=off`` from the
  stored outputs, because nbval has just executed every chapter; ``make book``
  leaves it unset and so executes every chapter (``force``).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Mapping

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

EXECUTION_MODES = ("off", "force", "auto", "cache", "inline")
MATHJAX_COMPONENT = "tex-mml-chtml.js"  # Sphinx's own default component, so pages look the same
MATHJAX_STATIC_DIR = "mathjax"  # under _static/
# What tex-mml-chtml.js may load at reading time, relative to MathJax's es5/ folder.
MATHJAX_PARTS = (
    MATHJAX_COMPONENT,
    "output/chtml/fonts",  # the CHTML web fonts (woff)
    "input/tex/extensions",  # \require{...} and the autoloaded TeX packages
    "input/mml",  # MathML entities and extensions
    "ui",  # the right-click menu and lazy typesetting
    "a11y",  # accessibility modules, loaded from the menu
    "sre",  # speech-rule data for the accessibility modules
)


def execution_mode(environ: Mapping[str, str], configured: str) -> str:
    """The notebook execution mode for this build: ``BOOK_EXECUTE`` if set, else ``configured``."""
    value = environ.get("BOOK_EXECUTE", "").strip()
    if not value:
        return configured
    if value not in EXECUTION_MODES:
        raise ValueError(f"BOOK_EXECUTE must be one of {', '.join(EXECUTION_MODES)}; got {value!r}")
    return value


def mathjax_source() -> Path:
    """MathJax's ``es5/`` folder inside the installed ``django-static-mathjax`` package."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax for the offline site comes from the PyPI package django-static-mathjax; "
                           "install the book's requirements (make env)")
    es5 = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (es5 / MATHJAX_COMPONENT).is_file():
        raise RuntimeError(f"{es5 / MATHJAX_COMPONENT} is missing: the installed 'mathjax' module is not "
                           "django-static-mathjax's MathJax 3")
    return es5


def copy_mathjax(destination: Path) -> int:
    """Copy the MathJax parts the pages load into ``destination`` (``_static/mathjax``); return the file count."""
    source = mathjax_source()
    count = 0
    for part in MATHJAX_PARTS:
        src, dst = source / part, destination / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
            count += sum(1 for p in src.rglob("*") if p.is_file())
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            count += 1
    licence = source.parent / "LICENSE"  # Apache-2.0 asks for the licence to travel with the files
    if licence.is_file():
        shutil.copy2(licence, destination / "LICENSE")
    return count


def _configure(app: Sphinx, config: Config) -> None:
    config.nb_execution_mode = execution_mode(os.environ, config.nb_execution_mode)
    # A path relative to _static/; Sphinx adds the <script> tag (deferred) and the MathJax 3 configuration.
    config.mathjax_path = f"{MATHJAX_STATIC_DIR}/{MATHJAX_COMPONENT}"
    # The theme's colour mode on a first visit: unset, the theme logs a console error and
    # falls back to "auto"; say "auto" (follow the reader's system setting) outright.
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}
    mathjax_source()  # fail at the start of the build, not at its end, when MathJax is missing


def _drop_repeated_inline_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                                  doctree) -> None:
    """Keep one copy of each inline ``<script>``.

    Sphinx 7.4 lists an inline script twice when an extension adds it after the
    builder has started (once under the file name ``None``, once under ``''``).
    For sphinx-thebe's ``const THEBE_JS_URL = ...`` the second copy is a
    SyntaxError in the console of every page.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in scripts:
        key = (js.filename or "", tuple(sorted(js.attributes.items())))
        if not js.filename and key in seen:
            continue
        seen.add(key)
        unique.append(js)
    context["script_files"] = unique


def _install_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    count = copy_mathjax(Path(app.outdir) / "_static" / MATHJAX_STATIC_DIR)
    logger.info("book_site: MathJax served locally from _static/%s (%d files)", MATHJAX_STATIC_DIR, count)


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")  # its nb_execution_mode must exist before config-inited
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _drop_repeated_inline_scripts, priority=900)  # after the others
    app.connect("build-finished", _install_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
