"""The built site, as a reader's browser sees it, with no network.

``make test`` builds the site from the stored notebook outputs
(``BOOK_EXECUTE=off``, after nbval has executed every chapter) and then runs
this file with ``BOOK_SITE_DIR=_build/html``. Run on its own, without
``BOOK_SITE_DIR``, the ``site`` fixture builds the site the same way first.

Two kinds of check:

* static, on the HTML files (always run): no page loads a script, style sheet,
  image or frame from another host; MathJax comes from the site; every chapter
  has well-formed Colab and Binder launch links and a working ``.ipynb``
  download; the search index is there;
* in headless Chromium (Debian's ``chromium``, driven by Playwright for Python,
  never a browser that Playwright downloads), serving the site from 127.0.0.1
  and refusing every other request: no console errors, every equation typeset,
  every ``#equation-*`` link resolves, every explorer slider changes its
  figure, search finds pages; one screenshot per chapter goes to
  ``_build/screenshots/``. Without Chromium these are skipped, except under CI
  (``CI`` set), where a missing browser is a failure.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# The flags every run of the browser gets: no GPU, no sandbox (root in CI), and none of
# Chromium's own background traffic, so that the only requests are the pages' own.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
DERIVATION_INDEX = "pages/derivation_index.html"


def _book(site: Path) -> Path:
    """The book's source folder that ``site`` was built from (``<book>/_build/html``)."""
    return site.parent.parent


def _config(site: Path) -> dict:
    return yaml.safe_load((_book(site) / "_config.yml").read_text())


# --- The built site ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site() -> Path:
    """The built HTML folder: ``BOOK_SITE_DIR``, or a build from the stored outputs made now."""
    given = os.environ.get("BOOK_SITE_DIR")
    if given:
        path = Path(given)
        path = path if path.is_absolute() else ROOT / path
        assert (path / "intro.html").is_file(), f"BOOK_SITE_DIR={given} holds no built book (no intro.html)"
        assert (_book(path) / "_config.yml").is_file(), f"BOOK_SITE_DIR must be <book>/_build/html, got {given}"
        return path
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe) if exe.exists() else "jupyter-book", "build", ".", "-W", "-n", "--keep-going"]
    env = {**os.environ, "BOOK_EXECUTE": "off", "VAE_LIB_NO_PROGRESS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"the site build failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    return ROOT / "_build" / "html"


def _pages(site: Path) -> list[str]:
    """Every page of the site, as paths relative to it (the redirecting index.html left out)."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        if rel.split("/")[0] in {"_static", "_sources", "_images"} or rel == "index.html":
            continue
        pages.append(rel)
    return pages


def _chapters(site: Path) -> list[str]:
    return [p for p in _pages(site) if p.startswith("chapters/")]


@functools.lru_cache(maxsize=None)
def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _is_outside(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return url.startswith("//") or scheme not in {"", "data", "blob"}


# --- Static checks on the HTML -----------------------------------------------------------------

LOADING = {  # elements whose attribute makes the browser fetch something to show the page
    "script": ["src"], "img": ["src", "srcset"], "iframe": ["src"], "source": ["src", "srcset"],
    "video": ["src", "poster"], "audio": ["src"], "embed": ["src"], "object": ["data"], "track": ["src"],
}


def test_the_site_has_the_book(site):
    pages = _pages(site)
    toc = yaml.safe_load((_book(site) / "_toc.yml").read_text())
    assert f"{toc['root']}.html" in pages
    assert _chapters(site), "the site has no chapter"
    assert "search.html" in pages and (site / "searchindex.js").is_file(), "the theme's search page is missing"


def test_no_page_loads_anything_from_another_host(site):
    outside = []
    for rel in _pages(site):
        soup = _soup(site / rel)
        for tag, attrs in LOADING.items():
            for element in soup.find_all(tag):
                for attr in attrs:
                    for url in re.split(r"\s*,\s*", element.get(attr) or ""):
                        url = url.strip().split(" ")[0]
                        if url and _is_outside(url):
                            outside.append(f"{rel}: <{tag} {attr}={url}>")
        for link in soup.find_all("link", href=True):
            rel_types = set(link.get("rel") or [])
            if rel_types & {"stylesheet", "preload", "modulepreload", "icon", "prefetch", "manifest"} \
                    and _is_outside(link["href"]):
                outside.append(f"{rel}: <link rel={sorted(rel_types)} href={link['href']}>")
    for css in (site / "_static").rglob("*.css"):
        for url in re.findall(r"""(?:url\(\s*['"]?|@import\s+['"])((?:https?:)?//[^'")\s]+)""", css.read_text("utf-8", "replace")):
            outside.append(f"{css.relative_to(site)}: {url}")
    assert not outside, "content fetched from another host:\n" + "\n".join(outside)


def test_mathjax_is_served_by_the_site(site):
    with_math = 0
    for rel in _pages(site):
        soup = _soup(site / rel)
        if not soup.select(".math"):
            continue
        with_math += 1
        sources = [s["src"] for s in soup.find_all("script", src=True) if "mathjax" in s["src"].lower()]
        assert len(sources) == 1, f"{rel}: expected one MathJax script, found {sources}"
        target = (site / rel).parent / sources[0].split("?")[0]
        assert target.resolve().is_file(), f"{rel}: MathJax script {sources[0]} is not in the site"
        assert target.resolve().parent == (site / "_static" / "mathjax").resolve()
    assert with_math, "no page has an equation"
    fonts = list((site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 10, "MathJax's CHTML fonts are missing from _static/mathjax"


def test_every_chapter_has_launch_buttons_and_a_notebook_download(site):
    config = _config(site)
    url, branch = config["repository"]["url"].rstrip("/"), config["repository"]["branch"]
    org, repo = urlsplit(url).path.strip("/").split("/")
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    binder = config["launch_buttons"]["binderhub_url"].rstrip("/")
    for rel in _chapters(site):
        docname = rel[: -len(".html")]
        assert (_book(site) / f"{docname}.ipynb").is_file(), f"{rel} does not come from a notebook"
        hrefs = [a["href"] for a in _soup(site / rel).find_all("a", href=True)]
        want_colab = f"{colab}/github/{org}/{repo}/blob/{branch}/{docname}.ipynb"
        assert want_colab in hrefs, f"{rel}: no Colab link {want_colab}"
        assert re.fullmatch(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/main/chapters/\w+\.ipynb",
                            want_colab)
        want_binder = f"{binder}/v2/gh/{org}/{repo}/{branch}?urlpath=tree/{docname}.ipynb"
        assert want_binder in hrefs, f"{rel}: no Binder link {want_binder}"
        assert url in hrefs, f"{rel}: no repository link"
        downloads = [h for h in hrefs if h.endswith(f"_sources/{docname}.ipynb")]
        assert downloads, f"{rel}: no .ipynb download link"
        source = ((site / rel).parent / downloads[0]).resolve()
        assert source.is_file() and json.loads(source.read_text())["cells"], f"{rel}: download {downloads[0]} is missing"


def _stored_explorers(site: Path) -> dict[str, int]:
    """How many explorers each chapter's stored outputs hold (what the page must show)."""
    counts = {}
    for rel in _chapters(site):
        nb = json.loads((_book(site) / rel.replace(".html", ".ipynb")).read_text())
        counts[rel] = sum("".join(out.get("data", {}).get("text/html", "")).count('class="vae-explorer"')
                          for cell in nb["cells"] if cell["cell_type"] == "code" for out in cell.get("outputs", []))
    return counts


def test_every_stored_explorer_is_on_its_page(site):
    for rel, stored in _stored_explorers(site).items():
        shown = len(_soup(site / rel).select("div.vae-explorer"))
        assert shown == stored, f"{rel}: {stored} explorers in the notebook, {shown} on the page"


# --- In the browser --------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output for failures
        pass


@pytest.fixture(scope="module")
def server(site):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _no_browser(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (under CI the browser test must run: .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A fresh headless Chromium profile (Debian's build)."""
    if not os.access(CHROMIUM, os.X_OK) and not shutil.which("chromium"):
        _no_browser("no Chromium here: apt-get install chromium chromium-driver")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("Playwright for Python is not installed: pip install -r requirements.txt")
    executable = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, service_workers="block")
        yield context
        context.close()


def _typeset(page) -> None:
    """Wait until MathJax (when the page loads it) has typeset everything."""
    if page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')"):
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
        page.evaluate("() => MathJax.startup.promise.then(() => true)")


_PAGE_FACTS = """() => {
  const blocks = Array.from(document.querySelectorAll('.math'));
  const unrendered = blocks.filter(b => !b.querySelector('mjx-container'))
                           .map(b => (b.id || b.tagName) + ': ' + b.textContent.trim().slice(0, 80));
  const errors = Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
                      .map(e => e.getAttribute('data-mjx-error') || e.textContent);
  // an undefined macro is shown as its own name, in an <mtext> of the hidden MathML copy
  const undefinedMacros = Array.from(document.querySelectorAll('mjx-assistive-mml mtext'))
                               .map(t => t.textContent).filter(t => /^\\\\[A-Za-z]+/.test(t));
  // prose text only: code cells may legitimately show TeX in strings
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let prose = '';
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest('pre, code, script, style, textarea, mjx-container')) prose += walker.currentNode.data + ' ';
  }
  return {
    display: document.querySelectorAll('div.math').length,
    blocks: blocks.length,
    unrendered: unrendered,
    errors: errors.concat(undefinedMacros),
    rawTex: (prose.match(/\\\\\\[|\\\\\\]|\\\\\\(|\\\\\\)|\\\\begin\\{/g) || []).length,
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
    eqLinks: Array.from(document.querySelectorAll('a[href*="#equation-"]')).map(a => a.href),
    explorers: document.querySelectorAll('div.vae-explorer').length,
  };
}"""

_MOVE_SLIDERS = """() => Array.from(document.querySelectorAll('div.vae-explorer')).flatMap(root => {
  const img = root.querySelector('img');
  return Array.from(root.querySelectorAll('input[type=range]')).map(input => {
    const before = {src: img.src, frame: root.dataset.frame, value: input.value};
    const max = parseInt(input.max, 10), value = parseInt(input.value, 10);
    input.value = String(value < max ? value + 1 : value - 1);
    input.dispatchEvent(new Event('input', {bubbles: true}));
    return {explorer: root.id, slider: input.dataset.key, from: before.value, to: input.value,
            srcChanged: img.src !== before.src, frameChanged: root.dataset.frame !== before.frame,
            frame: root.dataset.frame};
  });
})"""


def _offline(page, server: str, refused: list[str]) -> None:
    """Let the page reach only the local server; note and refuse everything else."""
    local = urlsplit(server).netloc

    def handle(route):  # one parameter: Playwright passes (route, request) to two-parameter handlers
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", handle)


def _visit(browser, server: str, rel: str, shot: Path | None) -> dict:
    record = {"console": [], "outside": [], "failed": []}
    local = urlsplit(server).netloc
    page = browser.new_page()
    _offline(page, server, record["outside"])
    page.on("console", lambda m: m.type == "error" and record["console"].append(m.text))
    page.on("pageerror", lambda e: record["console"].append(f"uncaught: {e}"))
    page.on("requestfailed", lambda q: urlsplit(q.url).netloc == local and record["failed"].append(f"{q.url}: {q.failure}"))
    page.on("response", lambda r: r.status >= 400 and record["failed"].append(f"{r.url}: {r.status}"))
    try:
        page.goto(server + rel, wait_until="load", timeout=30_000)
        _typeset(page)
        record.update(page.evaluate(_PAGE_FACTS))
        if shot is not None:
            page.screenshot(path=str(shot))
        record["sliders"] = page.evaluate(_MOVE_SLIDERS)
    except Exception as error:  # noqa: BLE001 -- one broken page must not hide what the others show
        record["console"].append(f"the page could not be checked: {type(error).__name__}: {error}")
    finally:
        page.close()
    return record


@pytest.fixture(scope="module")
def visits(site, server, browser):
    """Open every page once, offline, and record what a reader would meet there."""
    shots = site.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    return {rel: _visit(browser, server, rel,
                        shots / (rel[: -len(".html")].replace("/", "_") + ".png") if rel.startswith("chapters/") else None)
            for rel in _pages(site)}


def test_pages_need_no_other_host(visits):
    outside = {rel: r["outside"] for rel, r in visits.items() if r["outside"]}
    assert not outside, f"pages asked for other hosts (refused): {outside}"
    failed = {rel: r["failed"] for rel, r in visits.items() if r["failed"]}
    assert not failed, f"local requests failed: {failed}"


def test_no_console_errors(visits):
    errors = {rel: r["console"] for rel, r in visits.items() if r["console"]}
    assert not errors, f"console errors: {errors}"


def test_every_equation_is_typeset(visits):
    assert sum(r.get("display", 0) for r in visits.values()) > 0, "the site shows no display equation"
    for rel, r in visits.items():
        assert "blocks" in r, f"{rel} could not be checked: {r['console']}"
        assert not r["unrendered"], f"{rel}: math left untypeset: {r['unrendered']}"
        assert not r["errors"], f"{rel}: MathJax errors: {r['errors']}"
        assert r["rawTex"] == 0, f"{rel}: raw TeX delimiters left in the text"


def test_equation_links_resolve(site, server, visits):
    """Every ``#equation-*`` link of the derivation index (or, until it exists, of every page) hits its equation."""
    sources = [DERIVATION_INDEX] if DERIVATION_INDEX in visits else list(visits)
    links = [href for rel in sources for href in visits[rel].get("eqLinks", [])]
    if DERIVATION_INDEX in visits:
        assert links, "the derivation index links to no equation"
    ids = {server + rel: set(r.get("ids", ())) for rel, r in visits.items()}
    broken = []
    for href in links:
        page, anchor = urldefrag(href)
        assert page in ids, f"{href} points outside the site"
        if unquote(anchor) not in ids[page]:
            broken.append(href)
    assert not broken, f"equation links with no target: {broken}"


def test_explorer_sliders_change_the_figure(site, visits):
    for rel, stored in _stored_explorers(site).items():
        moves = visits[rel].get("sliders", [])
        assert len({m["explorer"] for m in moves}) == stored, f"{rel}: {stored} explorers expected on the page"
        for move in moves:
            assert move["srcChanged"] and move["frameChanged"], f"{rel}: moving a slider left the figure: {move}"


def test_chapter_screenshots_are_saved(site, visits):
    for rel in _chapters(site):
        shot = site.parent / "screenshots" / (rel[: -len(".html")].replace("/", "_") + ".png")
        assert shot.is_file() and shot.stat().st_size > 10_000, f"no screenshot of {rel}"


def test_search_finds_the_chapters(site, server, browser):
    """The theme's search (an index in the site, no server) finds the first chapter by its title's longest word."""
    first = _chapters(site)[0]
    title = _soup(site / first).find("h1").get_text(" ", strip=True)
    word = max(re.findall(r"[A-Za-z]{4,}", title), key=len)
    page = browser.new_page()
    _offline(page, server, [])
    page.goto(f"{server}search.html?q={word}", wait_until="load")
    page.wait_for_selector("ul.search li", timeout=30_000)
    hits = page.eval_on_selector_all("ul.search li a", "links => links.map(a => a.getAttribute('href'))")
    page.close()
    assert any(h.split("#")[0].startswith(first) for h in hits), f"search for {word!r} missed {first}: {hits}"
