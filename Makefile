# The README's two commands: `make book` and `make test`. Both set up .venv themselves.
.PHONY: book lint test portability bench data env clean _build/html/zh

export VAE_LIB_NO_PROGRESS := 1
export PYTHONHASHSEED := 0

BUILD_SITE := .venv/bin/jupyter-book build . --all -W -n --keep-going
# The Chinese edition (scripts/translate.py, _ext/translation.py): zh/ is generated from the English book
# and locales/zh/ (it fails on any untranslated or stale unit), built from the stored outputs, and
# served under zh/ of the same site.
BUILD_ZH := $(MAKE) -s _build/html/zh

env:
	bash scripts/env.sh

# The published site: executes every chapter (execute_notebooks: force in _config.yml).
book: env
	$(BUILD_SITE)
	$(BUILD_ZH)
	@echo "Open _build/html/index.html, or serve it: .venv/bin/python -m http.server -d _build/html 8000"

# ruff and mypy, as configured in pyproject.toml (both pinned in requirements.txt); `make test` runs it first.
lint: env
	.venv/bin/ruff check vae_lib scripts tests benchmarks _ext conftest.py
	.venv/bin/mypy

# Each chapter is executed once: by nbval, which compares it with its stored outputs.
# The site is then built from those stored outputs (BOOK_EXECUTE=off, see _ext/book_site.py)
# and checked in headless Chromium, offline (tests/test_browser.py).
test: env lint
	.venv/bin/python -m pytest --ignore=tests/test_browser.py
	BOOK_EXECUTE=off $(BUILD_SITE)
	$(BUILD_ZH)
	BOOK_SITE_DIR=_build/html .venv/bin/python -m pytest tests/test_browser.py

# Seeds x CPU conditions, and the cross matrix of stored-vs-fresh outputs (CONTRIBUTING.md, "Portability").
# Executes every chapter 9 times into _build/portability; about 25 minutes on 2 cores.
portability: env
	.venv/bin/python scripts/portability.py

# The speed figures of README's Speed section: the training loop against the DataLoader loop, and
# the thread policy, old and new, idle and with a busy core. About two minutes on 2 cores.
bench: env
	.venv/bin/python benchmarks/bench.py --epochs 0 --defaults
	.venv/bin/python benchmarks/thread_policy.py

# Regenerate what vae_lib/_data holds that a script trains (vae_lib/_data/README.md says what each is;
# the embedded MNIST subset is copied, not generated). About ten minutes on 2 cores.
data: env
	.venv/bin/python scripts/elbo_gap.py
	.venv/bin/python scripts/elbo_gap.py --iwae-k 5
	.venv/bin/python scripts/eq8_controls.py
	.venv/bin/python scripts/rate_distortion.py
	.venv/bin/python scripts/rate_distortion.py --checks

# Always rebuilt (a phony prerequisite): it is cheap, about 40 s, and its inputs are many.
_build/html/zh: env
	@if .venv/bin/python scripts/translate.py published; then \
	  .venv/bin/python scripts/translate.py build \
	  && .venv/bin/jupyter-book build zh --all -W -n --keep-going --path-output _build/zh \
	  && rm -rf _build/html/zh && cp -r _build/zh/_build/html _build/html/zh; \
	else rm -rf _build/html/zh; \
	  echo "The Chinese edition is not published yet (locales/zh/site.yml): not built."; \
	  .venv/bin/python scripts/translate.py status | tail -1; fi

clean:
	rm -rf _build .pytest_cache
