# detdesign: the two set-up commands are `make reproduce` and `make test` (both create .venv on first use).
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= $(or $(DETDESIGN_PROFILE),quick)
PORT    ?= 8888
DOWNLOAD ?= $(or $(DETDESIGN_DOWNLOAD),0)
STAMP   := $(VENV)/.installed-stamp

.PHONY: help install reproduce test unit nbval claims lab lint bench clean data site

help:
	@echo "make reproduce [PROFILE=smoke|quick|full]  run every notebook with papermill (full updates the published results)"
	@echo "make reproduce DOWNLOAD=1                   ... and download missing datasets (pinned, checksum-verified)"
	@echo "make data                                   download every dataset into the data root"
	@echo "make test                                   unit tests + nbval of every notebook (smoke profile)"
	@echo "make claims                                 render data/claims/*.csv into the README claims table"
	@echo "make site                                   static teaching site of the published notebooks in build/site"
	@echo "make lab                                    JupyterLab on http://127.0.0.1:$(PORT), on working copies in runs/lab"
	@echo "make bench                                  speed benchmarks under benchmarks/"

# torch/torchvision are pinned in pyproject.toml (the one source of versions); see the comment there.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	DETDESIGN_DOWNLOAD=$(DOWNLOAD) $(PY) scripts/run_notebooks.py --profile $(PROFILE)
	@if [ "$(PROFILE)" = full ]; then $(MAKE) --no-print-directory claims; fi

data: $(STAMP)
	$(PY) scripts/download_data.py

claims: $(STAMP)
	$(PY) scripts/render_claims.py

test: $(STAMP)
	DETDESIGN_RUNNER=nbval DETDESIGN_PROFILE=smoke DETDESIGN_PROGRESS=0 DETDESIGN_WIDGETS=0 $(PY) -m pytest tests notebooks \
	  --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

unit: $(STAMP)
	$(PY) -m pytest tests

nbval: $(STAMP)
	DETDESIGN_RUNNER=nbval DETDESIGN_PROFILE=smoke DETDESIGN_PROGRESS=0 DETDESIGN_WIDGETS=0 $(PY) -m pytest notebooks --nbval-lax --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg

site: $(STAMP)
	$(PY) scripts/build_site.py

lab: $(STAMP)
	$(PY) scripts/lab_copies.py
	DETDESIGN_LAB=1 DETDESIGN_PROFILE=full $(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) --notebook-dir=runs/lab $$([ "$$(id -u)" = 0 ] && echo --allow-root)

lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests scripts benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_zen.py
	$(PY) benchmarks/bench_detection.py
	$(PY) benchmarks/bench_search.py

clean:
	rm -rf runs .pytest_cache
