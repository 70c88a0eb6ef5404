"""The Chinese edition's catalogue and book (_ext/translation.py says how they work).

Usage: .venv/bin/python scripts/translate.py stub   [PAGE ...]   bring catalogues in line with the English
       .venv/bin/python scripts/translate.py check  [PAGE ...]   report every stale, missing or malformed unit
       .venv/bin/python scripts/translate.py status               the percentage translated, per page
       .venv/bin/python scripts/translate.py build                write the edition's book into zh/
       .venv/bin/python scripts/translate.py published            exit 0 if site.yml publishes the edition
PAGE is a page of _toc.yml, for example chapters/01_autoencoder or intro (default: every page).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
import translation  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("stub", "check", "status", "build", "published"))
    parser.add_argument("pages", nargs="*")
    parser.add_argument("--lang", default="zh", choices=translation.LANGUAGES)
    args = parser.parse_args()
    pages = args.pages or translation.toc_pages()
    if args.command == "stub":
        for page in pages:
            n, todo = translation.stub(args.lang, page)
            print(f"{translation.catalogue_path(args.lang, page).relative_to(ROOT)}: {n} units, {todo} to translate")
        return 0
    if args.command == "check":
        problems = [p for page in pages for p in translation.problems(args.lang, page)]
        print("\n".join(problems) or f"{len(pages)} page(s): every unit translated and well formed")
        return 1 if problems else 0
    if args.command == "status":
        done = total = 0
        for page in pages:
            n = len(translation.units(page))
            ok = n - sum(1 for p in translation.problems(args.lang, page) if p.endswith(("not translated", "no entry"))
                         or ": stale:" in p)
            done, total = done + ok, total + n
            print(f"{page}: {ok}/{n}")
        print(f"translated: {100 * done / total:.1f}% ({done} of {total} units)")
        return 0
    if args.command == "published":  # for make: exit status 0 when the edition is to be built
        return 0 if translation.published(args.lang) else 1
    written = translation.build_edition(args.lang)
    print(f"{args.lang}/: {len(written)} files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
