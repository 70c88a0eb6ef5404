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
* **Reading on any screen** (``_ext/static/``): ``book_site.css`` and ``book_site.js``
  keep every display equation whole (the number on its own line when needed, a
  visibly scrolling, focusable box as the last resort), make the phone menu open,
  show each equation's permalink and a "link to this step" button that copies a
  versioned address and BibTeX, and mark the landed equation. A favicon.
* **Lasting equation addresses.** ``pages/equations.yml`` (``_ext/equation_registry.py``)
  is written into ``_static/book_citation.js``: each label's description for the
  citation, and where a retired label's address now lands.
* **Accessible markup and search.** Bibliography entries are list items (the
  deprecated ``doc-biblioentry`` role broke their ``role="list"``); search snippets
  show no raw TeX and the page that defines a key term ranks first (``SEARCH_TERMS``).
* **Execution switch.** ``BOOK_EXECUTE`` (one of ``off``, ``force``, ``auto``,
  ``cache``, ``inline``), when set, replaces ``execute_notebooks`` for one
  build. ``make test`` builds the site with ``BOOK_EXECUTE=off`` from the
  stored outputs, because nbval has just executed every chapter; ``make book``
  leaves it unset and so executes every chapter (``force``).
* **Notebooks readable in Jupyter.** The stored chapters hold their roles and directives in a
  readable form (``_ext/notebook_markup.py``); on ``source-read`` it is turned back into MyST,
  so the site resolves every role itself.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import yaml
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

import equation_registry
import notebook_markup
import translation

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


STATIC = Path(__file__).resolve().parent / "static"
# Key terms -> the page that defines them: search lists that page first for the term
# (an index entry, which Sphinx's search scores above any word in the text).
SEARCH_TERMS = {
    "ELBO": "chapters/04_bayes_rewrite",
    "evidence lower bound": "chapters/04_bayes_rewrite",
    "KL divergence": "chapters/03_kl_divergence",
    "Kullback-Leibler divergence": "chapters/03_kl_divergence",
    "reparameterisation": "chapters/02_vae",
    "reparameterization": "chapters/02_vae",
    "posterior collapse": "chapters/06_final_loss",
    "auto-encoder": "chapters/01_autoencoder",
    "variational auto-encoder": "chapters/02_vae",
    "VAE": "chapters/02_vae",
    "closed-form KL": "chapters/05_closed_form_kl",
    "Gibbs' inequality": "chapters/03_kl_divergence",
    "active units": "chapters/06_final_loss",
}


def search_terms(edition: str) -> dict[str, str]:
    """``SEARCH_TERMS``, or an edition's own (``locales/<lang>/site.yml``)."""
    if edition == "en":
        return SEARCH_TERMS
    return translation.site_strings(edition)["search_terms"]


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
    if not config.html_favicon:
        config.html_favicon = str(STATIC / "favicon.svg")  # served from the site: no 404 on every page
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def _index_key_terms(app: Sphinx, doctree) -> None:
    """An index entry for each key term on the page that defines it (``SEARCH_TERMS``)."""
    terms = [t for t, doc in search_terms(app.config.book_edition).items() if doc == app.env.docname]
    if not terms:
        return
    from docutils import nodes
    from sphinx import addnodes
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    index = addnodes.index(entries=[("single", term, section["ids"][0], "main", None) for term in terms])
    section.insert(0, index)


EDITIONS = {  # language -> (the edition's folder on the site, its lang attribute, the switch's text)
    "en": ("", "en", "English"),
    "zh": ("zh/", "zh-CN", "中文"),
}


def edition_switch(pagename: str, edition: str) -> dict[str, str]:
    """The link to the same page in the other edition: English pages sit at the site's root, the
    Chinese ones under ``zh/``, with the same page names, so the two addresses differ only there."""
    other = "zh" if edition == "en" else "en"
    up = "../" * (pagename.count("/") + (1 if edition != "en" else 0))
    folder, lang, text = EDITIONS[other]
    return {"href": f"{up}{folder}{pagename}.html", "lang": lang, "text": text,
            "label": "阅读本页的中文版" if other == "zh" else "Read this page in English"}


def _add_edition_switch(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if doctree is None and pagename not in ("search", "genindex"):
        return
    if app.config.book_edition == "en" and not translation.published("zh"):
        return
    switch = edition_switch(pagename, app.config.book_edition)
    link = (f'<a class="vae-edition-switch" href="{switch["href"]}" hreflang="{switch["lang"]}" '
            f'lang="{switch["lang"]}" aria-label="{switch["label"]}">{switch["text"]}</a>')
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="alternate" hreflang="{switch["lang"]}" href="{switch["href"]}" />')
    if isinstance(context.get("body"), str):
        context["body"] = f'<p class="vae-edition-bar">{link}</p>\n' + context["body"]


def citation_data(book: Path, edition: str = "en") -> dict | None:
    """What a "link to this step" button needs: the versioned address, BibTeX fields, the registry.

    ``None`` for a project without ``CITATION.cff`` and ``pages/equations.yml`` (the buttons then
    copy the plain address)."""
    if edition != "en":  # an edition's book sits in a folder of the English one (scripts/translate.py)
        book = book.parent
    if not (book / "CITATION.cff").is_file() or not (book / "pages" / "equations.yml").is_file():
        return None
    cff = yaml.safe_load((book / "CITATION.cff").read_text(encoding="utf-8"))
    registry = equation_registry.load(book / "pages" / "equations.yml")
    version, year = str(cff["version"]), str(cff["date-released"])[:4]
    return {
        "versioned": f"{cff['url'].rstrip('/')}/v{version}/{EDITIONS[edition][0]}",
        "version": version, "year": year, "title": cff["title"],
        "author": "{" + cff["authors"][0]["name"] + "}",  # one name, not first and last (how_to_cite.md)
        "key": f"vibook{year}",
        "equations": {e["label"]: {"number": e["number"], "says": e["says"]} for e in registry["equations"]},
        "retired": equation_registry.redirects(registry),
    }


def _fix_markup(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Two ARIA repairs: bibliography entries inside docutils' ``role="list"`` must be list items, and
    myst-nb's "Show code cell source" toggle must be named by the text it shows (its fixed
    aria-label "Toggle hidden content" hides that text from a screen reader, and axe-core flags it)."""
    body = context.get("body")
    if isinstance(body, str) and 'role="doc-biblioentry"' in body:
        body = body.replace('role="doc-biblioentry"', 'role="listitem"')
    if isinstance(body, str):
        context["body"] = body.replace('<summary aria-label="Toggle hidden content">', "<summary>")


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
    data = citation_data(Path(app.confdir), app.config.book_edition)
    (Path(app.outdir) / "_static" / "book_citation.js").write_text(
        "window.BOOK_CITATION = " + json.dumps(data, ensure_ascii=False, indent=1) + ";\n", encoding="utf-8")


def _notebook_to_myst(app: Sphinx, docname: str, source: list[str]) -> None:
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = notebook_markup.notebook_to_myst(source[0])


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")  # its nb_execution_mode must exist before config-inited
    app.connect("config-inited", _configure)
    app.connect("source-read", _notebook_to_myst)
    app.connect("html-page-context", _drop_repeated_inline_scripts, priority=900)  # after the others
    app.connect("build-finished", _install_mathjax)
    app.connect("doctree-read", _index_key_terms)
    app.connect("html-page-context", _fix_markup)
    app.connect("html-page-context", _add_edition_switch)
    app.add_config_value("book_edition", "en", "html", types=[str])  # "zh" in the Chinese edition's _config.yml
    app.add_css_file("book_site.css")
    app.add_js_file("book_citation.js", priority=800)
    app.add_js_file("book_site.js", priority=900, defer="defer")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
