# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the one torch pin is pyproject.toml's (see there why it is exact), installed first
TORCH := $(shell sed -n 's/^ *"\(torch[^"]*\)",$$/\1/p' pyproject.toml)

.PHONY: install translator run check test lint bench ingest browser clean reliability reader

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q '$(TORCH)'
	$(BIN)/pip install -q -e '.[dev]'
	# late chunking's engine (rag/index/late.py), compiled at install: the app never compiles
	$(BIN)/python -c "import sys; from rag.index.late import main; sys.exit(main())" || true
	touch $(STAMP)

# the llm extra for the tests: llama-cpp-python compiles for several minutes the first time,
# then comes from pip's wheel cache; `make run` does not need it. GGML_NATIVE=OFF: a build
# tuned to this CPU uses instructions (AMX) that the sandbox refuses: SIGILL at the first token
LLM_STAMP := $(VENV)/.installed-llm
$(LLM_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install -q -e '.[dev,llm]'
	touch $(LLM_STAMP)

install: $(STAMP) translator

# English questions reach the French BM25 index through Debian's apertium (rag/index/translate.py);
# optional: without root or apt, a note, and English questions are searched in English only
translator:
	@command -v apertium >/dev/null || (apt-get update -q && apt-get install -y -q apertium apertium-eng-spa apertium-fr-es) \
	  || echo "note: apertium not installed: English questions reach BM25 in English only"

run: $(STAMP) translator
	$(BIN)/rag ingest
	$(BIN)/rag serve

ingest: $(STAMP)
	$(BIN)/rag ingest

browser:
	test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)

test: $(LLM_STAMP) browser translator
	$(BIN)/pytest tests/ evals/

# the inner loop (about 2 min warm): lint, then the tests that start no subprocess, server,
# browser or LLM and measure no eval; needs no llama-cpp build
UNIT := not slow and not cli and not browser and not llm and not eval
check: lint
	$(BIN)/pytest -q -m "$(UNIT)" tests/

# the trained reader (rag/reader/weights.pt and CARD.md): about an hour on 2 cores, seeded,
# checkpointed (run it again to resume), then its span head (15-25 min, not checkpointed), then
# the answer models fitted with it on the dev splits
reader: $(STAMP)
	$(BIN)/python -m rag.reader.train
	$(BIN)/python -m evals.fit --reader

# the fault probe at full strength: 30 killed ingests, splitting timed up to 64 MB (~10 min)
reliability: $(STAMP)
	RELIABILITY_TRIALS=30 SPLIT_MAX_MB=64 $(BIN)/pytest -s tests/test_reliability.py tests/test_chunking.py

lint: $(STAMP)
	$(BIN)/ruff check rag app.py tests evals
	$(BIN)/ruff format --check rag app.py tests evals
	$(BIN)/mypy rag app.py

# about 25 min on 2 cores; figures in docs/bench/ (README "Speed at scale" is copied from them)
BENCH_SIZES ?= 1000,10000,100000
bench: $(STAMP)
	mkdir -p docs/bench
	nice $(BIN)/rag bench --passages $(BENCH_SIZES) --plot docs/bench/scale.png --json > docs/bench/scale.json
	$(BIN)/python -c "import json; from rag.measure.benchreport import table; print(table(json.load(open('docs/bench/scale.json'))))" > docs/bench/scale.md
	cat docs/bench/scale.md

clean:
	rm -rf $(VENV) index/chroma index/keyword evals/reports test-artifacts
