VENV ?= .venv
PY = $(VENV)/bin/python

.PHONY: install test demo bench clean

# torch is pinned in the same pip command as everything else so pip picks the
# CPU wheel on disk instead of resolving a CUDA build.
$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0" -e ".[dev,serve]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest

demo: install
	$(PY) -m elfrl.demo

bench: install
	$(PY) benchmarks/scorer.py
	$(PY) benchmarks/teacher.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
