# The README's two commands: `make book` and `make test`. Both set up .venv themselves.
.PHONY: book lint test portability bench data env clean

export VAE_LIB_NO_PROGRESS := 1
export PYTHONHASHSEED := 0

BUILD_SITE := .venv/bin/jupyter-book build . --all -W -n --keep-going

env:
	bash scripts/env.sh

# The published site: executes every chapter (execute_notebooks: force in _config.yml).
book: env
	$(BUILD_SITE)
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

clean:
	rm -rf _build .pytest_cache
