"""The chapters' markdown reads in Jupyter and Colab: no raw MyST role or directive (_ext/notebook_markup.py).

* Every stored chapter is in the readable form, and its texts are current: each glued value is the
  stored output's, each equation number and citation what the site shows (``tests/test_browser.py``
  compares them with the built pages).
* A plain CommonMark renderer (markdown-it's ``commonmark`` preset, as Jupyter's and Colab's
  renderers are) shows no ``{glue``, ``{cite}``, ``{eq}``, directive fence or ``:label:``.
* The readable form turns back into the MyST the site parses, and bad markup is refused with a
  message naming the role, key or label.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

import notebook_markup as nm

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
RAW = re.compile(r"\{glue|\{cite|\{eq\}|\{math\}|\{admonition\}|\{note\}|^:label:|^(?:```|:::)\{", re.M)


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _markdown_cells(nb: dict) -> list[tuple[int, str]]:
    return [(i, nm._source(c)) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"]


def _visible(html: str) -> str:
    """What a browser shows of rendered HTML: comments and tags removed."""
    return re.sub(r"<[^>]+>", "", re.sub(r"<!--.*?-->", "", html, flags=re.S))


@pytest.fixture(scope="module")
def shared_context():
    return nm.Context(equations=nm.equation_numbers(), citations=nm.citation_labels())


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_stored_readable_and_current(path, shared_context):
    nb = _notebook(path)
    context = nm.Context(nm.glued_values(nb), shared_context.equations, shared_context.citations)
    stale = [i for i, text in _markdown_cells(nb) if nm.readable(text, context) != text]
    assert not stale, (f"{path.name}: markdown cells {stale} are not in the readable form, or their texts are out of "
                       f"date. Refresh them: .venv/bin/python scripts/execute.py --markdown-only chapters/{path.name} "
                       "(or re-execute the chapter)")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_commonmark_shows_no_myst_markup(path):
    renderer = MarkdownIt("commonmark")
    left = [(i, m.group()) for i, text in _markdown_cells(_notebook(path))
            for m in RAW.finditer(_visible(renderer.render(text)))]
    assert not left, f"{path.name}: raw MyST visible in Jupyter/Colab (cell, markup): {left[:10]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_inline_marker_breaks_a_paragraph(path):
    """``<!--`` at a line's start opens an HTML block in CommonMark: the paragraph would end there."""
    renderer = MarkdownIt("commonmark")
    broken = [(i, t.content[:60]) for i, text in _markdown_cells(_notebook(path)) for t in renderer.parse(text)
              if t.type == "html_block" and re.match(r"\s*<!--@(?:glue|eq|cite)", t.content)]
    assert not broken, f"{path.name}: a line starts with an inline marker (cell, line): {broken[:10]}"


def test_a_marker_at_a_line_start_joins_the_line_above():
    context = nm.Context(glue={"n": "20"}, equations={"e": "1.1"})
    text = nm.readable("All\n{glue:text}`n` units, by\n{eq}`e`.\n\n| a |\n|---|\n| {glue:text}`n` |", context)
    assert text.startswith("All <!--@glue:text n-->20<!--/@--> units, by <!--@eq e-->Eq. (1.1)<!--/@-->.\n\n| a |")
    assert nm.readable(text, context) == text


def test_readable_form_example():
    context = nm.Context(glue={"kl": "0.3712", "name": "'nats'"}, equations={"kl-closed-form": "5.3"},
                         citations={"a": ("Kingma and Welling", "2014"), "b": ("Rezende et al.", "2014")})
    myst = ("The KL is {glue:text}`kl:.2f` {glue:text}`name` ({eq}`kl-closed-form`, {cite}`a,b`; {cite:t}`a`).\n\n"
            "```{math}\n:label: kl-closed-form\na = b\n```\n\n"
            "```{admonition} A title\n:class: warning\nSee {eq}`kl-closed-form`.\n```")
    text = nm.readable(myst, context)
    assert text.startswith("The KL is <!--@glue:text kl:.2f-->0.37<!--/@--> <!--@glue:text name-->nats<!--/@--> "
                           "(<!--@eq kl-closed-form-->Eq. (5.3)<!--/@-->, "
                           "<!--@cite a,b-->[Kingma and Welling, 2014, Rezende et al., 2014]<!--/@-->; "
                           "<!--@cite:t a-->Kingma and Welling [2014]<!--/@-->).")
    assert "<!--@math kl-closed-form-->\n$$\na = b\n\\tag{5.3}\n$$" in text
    assert "<!--@admonition A title|warning-->\n> **A title**\n>\n> See <!--@eq kl-closed-form-->" in text
    assert nm.readable(text, context) == text  # idempotent
    back = nm.to_myst(text)
    assert "{glue:text}`kl:.2f`" in back and "{cite}`a,b`" in back and ":::{admonition} A title\n:class: warning" in back
    assert "```{math}\n:label: kl-closed-form\na = b\n```" in back and "\\tag" not in back
    assert nm.readable(back, context) == text
    # a changed value is rewritten: the texts follow the outputs
    context.glue["kl"] = "0.5"
    assert "<!--@glue:text kl:.2f-->0.50<!--/@-->" in nm.readable(text, context)


def test_indented_math_in_a_list_keeps_its_indentation():
    context = nm.Context(equations={"x": "4.1"})
    myst = "- item\n\n  ```{math}\n  :label: x\n  a = b\n  ```\n"
    text = nm.readable(myst, context)
    assert "  <!--@math x-->\n  $$\n  a = b\n  \\tag{4.1}\n  $$" in text
    assert nm.to_myst(text) == myst


@pytest.mark.parametrize("myst, message", [
    ("{glue:text}`missing`", "no value glued as 'missing'"),
    ("{eq}`nowhere`", "equation label 'nowhere'"),
    ("{cite}`nobody2020`", "not in references.bib: nobody2020"),
    ("```{math}\n:label: unnumbered\na\n```", "'unnumbered' has no equation number"),
    ("```{math}\n:nowrap:\na\n```", "option(s) ['nowrap']"),
    ("```{figure} x.png\n```", "the directive {figure} has no readable form"),
    ("{eq}`a--b`", "cannot sit in an HTML comment"),
])
def test_bad_markup_is_refused_by_name(myst, message):
    with pytest.raises(nm.MarkupError, match=re.escape(message)):
        nm.readable(myst, nm.Context(equations={"a--b": "1.1"}))


def test_equation_numbers_follow_the_toc():
    numbers = nm.equation_numbers()
    assert numbers["ae-encoder"] == "1.1"  # the first labelled equation of the first chapter
    chapters = [n.split(".")[0] for n in numbers.values()]
    assert chapters == sorted(chapters, key=int) and len(set(numbers.values())) == len(numbers)


def test_eqref_format_is_the_sites():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["math_eqref_format"] == nm.EQREF_FORMAT


def test_citation_labels_are_author_year():
    labels = nm.citation_labels()
    assert labels["kingma2014auto"] == ("Kingma and Welling", "2014")
    assert labels["rezende2014stochastic"] == ("Rezende et al.", "2014")


def test_site_source_is_myst():
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "<!--@eq x-->Eq. (1.1)<!--/@-->"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert json.loads(nm.notebook_to_myst(json.dumps(nb)))["cells"][0]["source"] == "{eq}`x`"
