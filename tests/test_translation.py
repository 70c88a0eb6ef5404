"""The Chinese edition (_ext/translation.py): complete, current, faithful in structure, and generated.

An English edit that is not carried into ``locales/zh`` fails here, by page and unit: the catalogue is
keyed by the hash of each English unit. ``scripts/translate.py status`` prints the percentage.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
import notebook_markup  # noqa: E402
import translation  # noqa: E402

PAGES = translation.toc_pages()
PUBLISHED = translation.published("zh")
unpublished = pytest.mark.skipif(not PUBLISHED, reason="the Chinese edition is not published yet (locales/zh/site.yml)")
UNTRANSLATED = ("not translated", "no entry (run: scripts/translate.py stub")


def test_every_page_of_the_book_has_a_catalogue():
    assert PAGES[0] == "intro" and len([p for p in PAGES if p.startswith("chapters/")]) == 8
    missing = [p for p in PAGES if not translation.catalogue_path("zh", p).is_file()]
    assert not missing, f"no catalogue for {missing}: scripts/translate.py stub"


def test_the_translation_is_complete_and_current():
    """100% of the English units have a current translation (none missing, none stale)."""
    total = sum(len(translation.units(p)) for p in PAGES)
    todo = {}
    for page in PAGES:
        entries = {e["key"]: e for e in translation.load("zh", page)}
        for unit in translation.units(page):
            entry = entries.get(translation.key(unit))
            if entry is None or not (entry.get("zh") or "").strip() or "old_zh" in entry:
                todo.setdefault(page, []).append(translation.key(unit))
    missing = sum(len(v) for v in todo.values())
    if not PUBLISHED:
        pytest.skip(f"the Chinese edition is not published yet: {100 * (total - missing) / total:.1f}% translated")
    assert not todo, (f"translated: {100 * (total - missing) / total:.1f}% ({total - missing} of {total} units); "
                      f"missing or stale: {todo}")


@pytest.mark.parametrize("page", PAGES)
def test_each_translation_keeps_the_structure_typography_and_terms(page):
    problems = translation.problems("zh", page)
    if not PUBLISHED:  # what is translated must still be current and well formed
        problems = [p for p in problems if not p.endswith(UNTRANSLATED[0]) and UNTRANSLATED[1] not in p]
    assert not problems, "\n".join(problems[:20])


def test_the_catalogues_hold_no_orphans():
    """Every entry translates a current English unit (an orphan is a unit whose English is gone)."""
    orphans = {}
    for page in PAGES:
        keys = {translation.key(u) for u in translation.units(page)}
        extra = [e["key"] for e in translation.load("zh", page) if e["key"] not in keys]
        if extra:
            orphans[page] = extra
    assert not orphans, f"entries for English that no longer exists (scripts/translate.py stub): {orphans}"


def test_an_english_edit_makes_its_unit_stale(tmp_path):
    """Change one English sentence: the unit's translation is reported stale until it is updated."""
    for rel in ("_toc.yml", "intro.md", "pages", "locales"):
        src = ROOT / rel
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / rel)
    (tmp_path / "chapters").mkdir()
    for nb in (ROOT / "chapters").glob("*.ipynb"):
        shutil.copy(nb, tmp_path / "chapters" / nb.name)
    page = "pages/how_to_cite"
    entries = translation.load("zh", page, tmp_path)
    for entry in entries:  # a stand-in translation where the page has none yet
        entry["zh"] = entry["zh"] or entry["en"]
    translation.save("zh", page, entries, tmp_path)
    assert translation.translations("zh", page, tmp_path)
    path = tmp_path / f"{page}.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("# How to cite", "# How to cite this book", 1), encoding="utf-8")
    with pytest.raises(translation.StaleTranslation, match="How to cite this book"):
        translation.translations("zh", page, tmp_path)
    n, todo = translation.stub("zh", page, tmp_path)
    assert todo == 1
    stale = [e for e in translation.load("zh", page, tmp_path) if "old_zh" in e]
    assert len(stale) == 1 and stale[0]["old_en"].startswith("# How to cite\n")
    assert any(": stale:" in p for p in translation.problems("zh", page, tmp_path))


@pytest.mark.parametrize("english, chinese, what", [
    ("The bound $a \\le b$ holds.", "下界 $a \\leq b$ 成立。", "inline math"),
    ("See {eq}`elbo`.", "见 {eq}`elbo-def`。", "roles"),
    ("Glued {glue:text}`kl:.2f` nats.", "粘贴值为 nats。", "roles"),
    ("Run `make book`.", "运行 `make test`。", "code spans"),
    ("(sec)=\n## A section", "## 一节", "labels"),
    ("```{math}\n:label: a\nx = 1\n```", "```{math}\n:label: a\nx = 2\n```", "math blocks"),
    ("Read [the docs](https://a.org).", "阅读[文档](https://b.org)。", "links"),
    ("# Title\n\n## Part", "# 标题\n\n### 部分", "headings"),
])
def test_a_changed_formula_role_code_or_label_is_refused(english, chinese, what):
    assert any(p.startswith(what) for p in translation.structure_problems(english, chinese)), what


def test_translated_titles_of_links_and_admonitions_are_allowed():
    english = ":::{admonition} Which sigma\n:class: note\n\nSee {doc}`the notes <pages/notes_on_source>`.\n:::"
    chinese = ":::{admonition} 哪个 sigma\n:class: note\n\n见 {doc}`注记 <pages/notes_on_source>`。\n:::"
    assert translation.structure_problems(english, chinese) == []


@pytest.mark.parametrize("text, rule", [
    ("这是KL散度。", "one space"),
    ("第3章", "one space"),
    ("由 {eq}`elbo`可知。", "one space"),
    ("均值,方差", "full-width punctuation"),
    ("结束.", "a full stop"),
    ("散度(见下文)", "full-width parentheses"),
    ("散度 ，方差", "no space beside"),
    ("第一句话写在\n两行上。", "a Chinese paragraph is one line"),
    (":::{admonition} 对原教程的更正\n:class: warning\n\n后验是KL散度。\n:::", "one space"),  # inside an admonition
    (":::{note}\n标题(见下文)\n:::", "full-width parentheses"),
])
def test_chinese_typesetting_rules_catch(text, rule):
    assert any(p.startswith(rule) for p in translation.typography_problems(text)), rule


def test_well_typeset_chinese_passes():
    assert translation.typography_problems("KL 散度 $D$ 见 {eq}`elbo`，第 3 章（variational inference）。\n\n- 一项\n- 两项") == []
    assert translation.typography_problems(":::{admonition} 更正\n:class: warning\n\n正文。\n:::\n\n```python\nx=1中\n```") == []


def test_the_glossary_fixes_one_term_per_concept():
    rows = translation.glossary()
    assert len(rows) >= 40 and any(r["glossed"] for r in rows) and not all(r["glossed"] for r in rows)
    chinese = [r["zh"] for r in rows]
    assert len(set(chinese)) == len(chinese), "two concepts share a Chinese term"
    assert len({r["en"] for r in rows}) == len(rows)
    for row in rows:
        assert row["zh"] not in row["avoid"], row
        assert not any(v in chinese for v in row["avoid"]), f"{row['avoid']} holds another concept's term"
    terms = {r["en"]: r["zh"] for r in rows}
    assert terms["variational inference"] == "变分推断" and terms["evidence lower bound"] == "证据下界"


def test_a_glossed_term_needs_its_english_at_first_use():
    rows = [{"en": "variational inference", "zh": "变分推断", "glossed": True, "avoid": []}]
    assert translation.gloss_problems(["# 变分推断\n\n变分推断（variational inference）是……"], rows) == []
    assert translation.gloss_problems(["变分推断是……变分推断（variational inference）"], rows)
    assert translation.gloss_problems(["变分推断（Variational-Inference）"], rows) == []


def test_a_word_that_holds_a_term_by_accident_is_not_its_first_use():
    rows = [{"en": "auto-encoder", "zh": "自编码器", "glossed": True, "avoid": []}]
    assert translation.gloss_problems(["梯度来自编码器。自编码器（auto-encoder）……"], rows) == []
    assert translation.gloss_problems(["梯度来自自编码器。自编码器（auto-encoder）……"], rows)


def test_a_variant_in_code_or_a_formula_is_not_a_use():
    """The glossary's variants are checked in the prose only: a glue name such as `kl_nats` may hold one."""
    prose = translation.prose("散度为 {glue:text}`kl_nats:.3f` 奈特，`nats` 与 $\\text{nats}$。")
    assert "nats" not in prose and "奈特" in prose


def test_markdown_pages_are_cut_at_headings_outside_fences():
    text = "# A\n\nintro\n\n```bash\n# not a heading\n```\n\n(lab)=\n## B\n\ntext\n"
    assert translation.split_sections(text) == ["# A\n\nintro\n\n```bash\n# not a heading\n```", "(lab)=\n## B\n\ntext"]


# ---------------------------------------------------------------- the generated book


@unpublished
def test_the_edition_in_zh_is_generated_from_the_catalogue():
    """zh/ holds exactly what scripts/translate.py build writes now (so Colab opens current notebooks)."""
    files = translation.edition_files("zh")
    on_disk = {p.relative_to(ROOT / "zh").as_posix() for p in (ROOT / "zh").rglob("*") if p.is_file()}
    assert on_disk == set(files), f"zh/ differs from the generated files: {on_disk ^ set(files)}"
    stale = [rel for rel, text in files.items() if (ROOT / "zh" / rel).read_text(encoding="utf-8") != text]
    assert not stale, f"zh/ is out of date (run scripts/translate.py build): {stale}"


@unpublished
@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("chapters/")])
def test_a_chinese_notebook_shares_the_code_outputs_and_equation_numbers(page):
    english = json.loads((ROOT / f"{page}.ipynb").read_text(encoding="utf-8"))
    chinese = json.loads((ROOT / "zh" / f"{page}.ipynb").read_text(encoding="utf-8"))
    assert [c["cell_type"] for c in english["cells"]] == [c["cell_type"] for c in chinese["cells"]]
    for a, b in zip(english["cells"], chinese["cells"]):
        if a["cell_type"] == "code":
            assert (a["source"], a["outputs"], a["metadata"]) == (b["source"], b["outputs"], b["metadata"])
    myst = lambda nb: "\n\n".join(notebook_markup.to_myst("".join(c["source"]))  # noqa: E731
                                  for c in nb["cells"] if c["cell_type"] == "markdown")
    assert notebook_markup.math_labels(myst(english)) == notebook_markup.math_labels(myst(chinese))
    shown = "".join("".join(c["source"]) for c in chinese["cells"] if c["cell_type"] == "markdown")
    numbers = notebook_markup.equation_numbers()
    for label in notebook_markup.math_labels(myst(chinese)):
        assert f"\\tag{{{numbers[label]}}}" in shown, f"{label} is not numbered {numbers[label]} in zh/{page}"
    assert "Eq. (" not in shown.replace("<!--@eq", ""), "an equation reference reads 'Eq.' in the Chinese notebook"


@unpublished
def test_the_edition_config_is_chinese_and_opens_its_own_notebooks():
    config = yaml.safe_load((ROOT / "zh" / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config["sphinx"]["config"]
    assert sphinx["language"] == "zh_CN" and sphinx["html_search_language"] == "zh"
    assert sphinx["math_eqref_format"] == "式 ({number})" and sphinx["book_edition"] == "zh"
    assert config["repository"]["path_to_book"] == "zh"  # the Colab and Binder buttons
    assert config["execute"]["execute_notebooks"] == "off"
    english = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "zh" in english["exclude_patterns"] and "locales" in english["exclude_patterns"]


@pytest.mark.skipif(PUBLISHED, reason="the edition is published")
def test_an_unpublished_edition_is_not_generated():
    assert not (ROOT / "zh").exists(), "zh/ exists, but locales/zh/site.yml does not publish the edition"


def test_the_edition_switch_links_the_same_page_in_both_editions():
    import book_site
    assert book_site.edition_switch("intro", "en")["href"] == "zh/intro.html"
    assert book_site.edition_switch("chapters/04_bayes_rewrite", "en")["href"] == "../zh/chapters/04_bayes_rewrite.html"
    assert book_site.edition_switch("chapters/04_bayes_rewrite", "zh")["href"] == "../../chapters/04_bayes_rewrite.html"
    assert book_site.edition_switch("intro", "zh")["href"] == "../intro.html"
