# The README's two commands: `make book` and `make test`. Both set up .venv themselves.
.PHONY: book test portability env clean

export VAE_LIB_NO_PROGRESS := 1
export PYTHONHASHSEED := 0

BUILD_SITE := .venv/bin/jupyter-book build . --all -W -n --keep-going

env:
	bash scripts/env.sh

# The published site: executes every chapter (execute_notebooks: force in _config.yml).
book: env
	$(BUILD_SITE)
	@echo "Open _build/html/index.html, or serve it: .venv/bin/python -m http.server -d _build/html 8000"

# Each chapter is executed once: by nbval, which compares it with its stored outputs.
# The site is then built from those stored outputs (BOOK_EXECUTE=off, see _ext/book_site.py)
# and checked in headless Chromium, offline (tests/test_browser.py).
test: env
	.venv/bin/python -m pytest --ignore=tests/test_browser.py
	BOOK_EXECUTE=off $(BUILD_SITE)
	BOOK_SITE_DIR=_build/html .venv/bin/python -m pytest tests/test_browser.py

# Seeds x CPU conditions, and the cross matrix of stored-vs-fresh outputs (CONTRIBUTING.md, "Portability").
# Executes every chapter 9 times into _build/portability; about 25 minutes on 2 cores.
portability: env
	.venv/bin/python scripts/portability.py

clean:
	rm -rf _build .pytest_cache
