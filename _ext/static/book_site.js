/* The book's reading fixes, run on every page (served from the site: _ext/book_site.py).
 * 1. Display equations: the number goes on its own line when the equation does not fit
 *    beside it; a box that still overflows becomes a focusable, visibly scrolling region, and so
 *    does an inline formula wider than its paragraph.
 * 2. "Link to this step": a button beside each number copies the equation's versioned
 *    address and a BibTeX entry (pages/how_to_cite.md); the landed equation is marked.
 * 3. Phone navigation: the theme pair binds its sidebar toggles to the first
 *    .primary-toggle/.secondary-toggle only (pydata-sphinx-theme #2451); the visible ones
 *    forward their clicks to it.
 * 4. Accessible names that match the visible labels (axe: label-content-name-mismatch).
 * 5. Retired equation labels (pages/equations.yml): their old address goes to the successor.
 * 6. Search snippets without raw TeX. 7. Explorer sliders that say their value.
 */
(() => {
  "use strict";
  const CITE = window.BOOK_CITATION || null;  // from _static/book_citation.js

  // --- 1. Whole equations -------------------------------------------------------------
  const MIN_SCALE = 0.88;  // the smallest type an equation is set in to avoid scrolling
  function fit(div) {
    const box = div.querySelector("mjx-container");
    if (!box) return;
    div.classList.remove("eq-stacked");
    box.classList.remove("eq-scroll");
    // MathJax sets the container's size inline (e.g. 127.3 %, to match the text): keep it as the base.
    if (!("mjxSize" in box.dataset)) box.dataset.mjxSize = box.style.fontSize;
    box.style.fontSize = box.dataset.mjxSize;
    const math = box.firstElementChild;  // mjx-math: its width is the equation's
    const width = () => math.getBoundingClientRect().width;
    const number = div.querySelector(":scope > span.eqno");
    const room = div.clientWidth - (number ? number.getBoundingClientRect().width + 8 : 0);
    if (number && width() > room) div.classList.add("eq-stacked");
    // A few per cent too wide: set it a little smaller (never below MIN_SCALE) rather than scroll.
    const over = width() / box.clientWidth;
    if (over > 1 && over <= 1 / MIN_SCALE) {
      const size = parseFloat(getComputedStyle(box).fontSize);
      box.style.fontSize = `${Math.floor(size / over * 0.99 * 100) / 100}px`;
    }
    if (width() > box.clientWidth + 1) {
      box.classList.add("eq-scroll");
      box.tabIndex = 0;  // a scrolling region must be reachable by keyboard
      box.setAttribute("role", "group");
      const n = number ? number.firstChild.textContent.trim() : "";
      box.setAttribute("aria-label", `Equation ${n}, scrolls sideways`);
    } else {
      ["tabindex", "role", "aria-label"].forEach((a) => box.removeAttribute(a));
    }
  }
  function typeset() {  // resolves once MathJax (if the page loads it) has typeset the page
    if (!document.querySelector("script[src*='mathjax']")) return Promise.resolve();
    return new Promise((resolve) => {
      const poll = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
        ? MathJax.startup.promise.then(resolve) : setTimeout(poll, 50);
      poll();
    });
  }
  // An inline formula wider than its paragraph (a phone): it scrolls sideways inside the line,
  // rather than running off the page. Only such formulas become inline blocks (their baseline moves).
  function fitInline(box) {
    box.classList.remove("eq-inline-scroll");
    const block = box.closest("p, li, td, dd, div") || box.parentElement;
    if (box.firstElementChild.getBoundingClientRect().width <= block.clientWidth) return;
    box.classList.add("eq-inline-scroll");
    box.tabIndex = 0;
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Formula, scrolls sideways");
  }
  function fitAll() {
    document.querySelectorAll("div.math").forEach(fit);
    document.querySelectorAll("span.math > mjx-container").forEach(fitInline);
  }

  // --- 2. Link to this step -----------------------------------------------------------
  const ICON = '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M6.4 9.6a.8.8 0 0 1 0-1.1l2.1-2.1a.8.8 0 1 1 1.1 1.1L7.5 9.6a.8.8 0 0 1-1.1 0zM4.3 12.8a2.2 2.2 0 0 1-1.6-3.8l2-2a.8.8 0 1 1 1.1 1.1l-2 2a.7.7 0 0 0 1 1l2-2a.8.8 0 1 1 1.1 1.1l-2 2a2.2 2.2 0 0 1-1.6.6zm5.6-3.9a.8.8 0 0 1-.6-1.3l2-2a.7.7 0 0 0-1-1l-2 2a.8.8 0 1 1-1.1-1.1l2-2a2.2 2.2 0 1 1 3.1 3.1l-2 2a.8.8 0 0 1-.4.3z"/></svg>';

  function pageAddress() {  // this page, relative to the book's root
    const root = new URL(document.documentElement.dataset.content_root || DOCUMENTATION_OPTIONS.URL_ROOT || "./", location.href);
    return location.href.split("#")[0].slice(root.href.length);
  }
  function citation(label, number) {
    if (!CITE) return {url: location.href.split("#")[0] + "#equation-" + label, text: location.href.split("#")[0] + "#equation-" + label};
    const url = `${CITE.versioned}${pageAddress()}#equation-${label}`;
    const entry = CITE.equations[label] || {};
    const key = `${CITE.key}${label.replace(/-/g, "")}`;
    const bib = [
      `@misc{${key},`,
      `  title        = {${entry.says || "Equation " + number}},`,
      `  author       = {${CITE.author}},`,
      `  howpublished = {Equation \\texttt{${label}}, (${number}) of \\emph{${CITE.title}}},`,
      `  version      = {${CITE.version}},`,
      `  year         = {${CITE.year}},`,
      `  url          = {${url}}`,
      "}",
    ].join("\n");
    return {url, text: `${url}\n\n${bib}\n`};
  }
  async function copy(text) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* falls through */ }
    const area = Object.assign(document.createElement("textarea"), {value: text});
    document.body.appendChild(area); area.select();
    const done = document.execCommand && document.execCommand("copy");
    area.remove();
    return !!done;
  }
  function addCiteButtons() {
    document.querySelectorAll("div.math[id^='equation-'] > span.eqno").forEach((eqno) => {
      if (eqno.querySelector("button.eq-cite")) return;
      const div = eqno.parentElement, label = div.id.slice("equation-".length);
      const number = eqno.firstChild.textContent.trim().replace(/[()]/g, "");
      const link = eqno.querySelector("a.headerlink");
      if (link) link.setAttribute("aria-label", `Link to equation (${number})`);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "eq-cite";
      button.innerHTML = ICON;
      button.setAttribute("aria-label", `Copy the link and citation of equation (${number})`);
      button.title = "Link to this step: copy its versioned address and BibTeX";
      button.dataset.label = label;
      button.addEventListener("click", async () => {
        const {url, text} = citation(label, number);
        history.replaceState(null, "", `#${div.id}`);
        mark(div);
        const ok = await copy(text);
        button.dataset.copied = text;  // what was offered, also when the clipboard is refused
        let note = eqno.querySelector(".eq-copied");
        if (!note) { note = document.createElement("span"); note.className = "eq-copied"; note.setAttribute("role", "status"); eqno.appendChild(note); }
        note.textContent = ok ? "copied" : url;
      });
      eqno.appendChild(button);
    });
  }
  function mark(div) {
    document.querySelectorAll("div.math.eq-landed").forEach((d) => d.classList.remove("eq-landed"));
    if (div) div.classList.add("eq-landed");
  }
  function landed() {
    const id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    const retired = CITE && CITE.retired && CITE.retired[id.replace(/^equation-/, "")];
    if (retired && !document.getElementById(id)) { location.replace(new URL(retired, new URL(document.documentElement.dataset.content_root || "./", location.href))); return; }
    const target = document.getElementById(id);
    if (target && target.matches("div.math")) mark(target);
  }

  // --- 3. Phone navigation --------------------------------------------------------------
  function forwardToggles() {
    for (const cls of ["primary-toggle", "secondary-toggle"]) {
      const [bound, ...others] = document.querySelectorAll(`.${cls}`);
      others.forEach((button) => button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopImmediatePropagation();
        bound.click();  // the one the theme listens to (it opens the drawer or hides the sidebar)
      }, true));
    }
  }

  // --- 4. Accessible names --------------------------------------------------------------
  function matchNames() {
    // The search field shows "Search" and a shortcut: let its name come from what it shows.
    document.querySelectorAll("button.search-button-field").forEach((b) => b.removeAttribute("aria-label"));
    // Icons inside a named control carry a tooltip title ("Light", "GitHub"); Font Awesome's script
    // turns <i title> into <svg><title>, at its own time. That title reads as the control's visible
    // text and no longer matches its name: hide the icons from assistive technology, now and later.
    const quiet = (control) => control.querySelectorAll("i[title], svg").forEach((icon) => {
      icon.removeAttribute("title");
      icon.setAttribute("aria-hidden", "true");
      icon.querySelectorAll("title").forEach((t) => t.remove());
    });
    document.querySelectorAll("[aria-label]").forEach((control) => {
      if (!control.querySelector("i, svg") || control.closest("mjx-container")) return;
      quiet(control);
      new MutationObserver(() => quiet(control)).observe(control, {childList: true, subtree: true});
    });
  }

  // --- 6. Search snippets: text, not TeX ----------------------------------------------------
  // Sphinx builds a result's snippet from the page's HTML, where math is still TeX source.
  function plainSnippets() {
    // `const Search` in searchtools.js is a global binding, not a property of window
    if (typeof Search === "undefined" || !Search.htmlToText || Search.htmlToText.bookPlain) return;
    const original = Search.htmlToText;
    Search.htmlToText = (html, anchor) => {
      const doc = new DOMParser().parseFromString(html, "text/html");
      doc.querySelectorAll(".math").forEach((m) => m.replaceWith(doc.createTextNode(" … ")));
      return original(doc.documentElement.outerHTML, anchor);
    };
    Search.htmlToText.bookPlain = true;
  }
  plainSnippets();

  // --- 7. Explorer sliders: a spoken value ------------------------------------------------
  // A range input announces its bare position; its label shows what it means ("shift of mu_1 = 0").
  function sliderValueText() {
    document.querySelectorAll("div.vae-explorer input[type=range]").forEach((input) => {
      const label = input.closest("label");
      if (!label || input.hasAttribute("aria-valuetext")) return;
      const say = () => input.setAttribute("aria-valuetext", label.textContent.replace(/\s+/g, " ").trim());
      say();
      input.addEventListener("input", () => setTimeout(say, 0));  // after the explorer updates its label
    });
  }

  function start() {
    plainSnippets();
    sliderValueText();
    matchNames();
    forwardToggles();
    addCiteButtons();
    landed();
    window.addEventListener("hashchange", landed);
    typeset().then(() => {
      fitAll();
      document.documentElement.dataset.equationsFitted = "true";  // for the browser test
    });
    let pending = null;
    window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(fitAll, 150); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
