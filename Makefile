# The README's two commands: `make book` and `make test`. Both set up .venv themselves.
.PHONY: book test env clean

export VAE_LIB_NO_PROGRESS := 1
export PYTHONHASHSEED := 0

env:
	bash scripts/env.sh

book: env
	.venv/bin/jupyter-book build . -W -n --keep-going
	@echo "Open _build/html/index.html, or serve it: .venv/bin/python -m http.server -d _build/html 8000"

test: env
	.venv/bin/python -m pytest

clean:
	rm -rf _build .pytest_cache
