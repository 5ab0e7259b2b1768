# babybench: the front door. Every target calls the one CLI, `babybench <subcommand>`.
PY      := .venv/bin/python
BB      := $(PY) -m babybench
# Real data lives beside the checkout in development; users point BABYBENCH_DATA elsewhere.
ifneq ($(wildcard ../shared/data),)
export BABYBENCH_DATA ?= $(abspath ../shared/data)
endif
TORCH   ?= torch==2.13.0
DISTILL ?= 0
# JOBS: runs trained / scored at once (child processes); small models share a GPU well
JOBS    ?= 1
PYTEST_ARGS ?=

.PHONY: setup test test-fast demo train-10m train-100m train-tiny evaluate leaderboard bench clean

setup:  ## create .venv and install babybench with its dependencies
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[eval,dev]"

test:   ## the whole test suite, offline, on CPU
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-fast:  ## skip slow tests
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

demo:   ## offline CPU demo: grammar corpus -> six tiny models -> leaderboards/demo.md
	$(BB) demo

train-10m:  ## strict-small: six parameter-matched families (add DISTILL=1 for distilled students)
	$(BB) train --track strict-small --all-families --jobs $(JOBS) $(if $(filter 1,$(DISTILL)),--distill)

train-100m:
	$(BB) train --track strict --all-families --jobs $(JOBS) $(if $(filter 1,$(DISTILL)),--distill)

train-tiny:  ## e.g. make train-tiny LANG=de  (LANG is also the locale variable: it is checked)
	@case "$(LANG)" in de|fr|tr|eu|sw|fi) ;; \
	  *) echo "error: give the language, e.g. make train-tiny LANG=de (one of de fr tr eu sw fi; got '$(LANG)')" >&2; exit 2;; esac
	$(BB) train --track tiny-$(LANG) --all-families --jobs $(JOBS)

evaluate:   ## score every run lacking a current result record
	$(BB) evaluate --all --jobs $(JOBS)

leaderboard:
	$(BB) leaderboard --all

bench:
	$(BB) bench

clean:
	rm -rf .cache runs/demo runs/smoke
