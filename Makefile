# maillab: `make` lists the targets. Everything here is a thin wrapper: the work is done
# by `python3 -m lab` (lab/cli.py), so the lab behaves the same however it is started.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
# Compose v2 (`docker compose`) where it exists, else v1 (`docker-compose`).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
export COMPOSE
LAB := $(PYTHON) -m lab
VENV := .venv
PYTEST_ARGS ?=
# The suite runs on this many workers, each with its own lab (tests/conftest.py);
# TEST_WORKERS=0 runs it in one process, with one lab.
TEST_WORKERS ?= 4

# What a user gives on the command line (SERVICE=client-x, ID='<message-id>', ...) is
# never read as shell or Make code: a Message-ID is chosen by whoever sent the mail,
# and `make trace ID='<a;touch x;#@b>'` or ID='$$(shell ...)' must run nothing. Make
# would expand such a value when it exports it (and it exports what the command line
# sets), so these are not exported; `$(call arg,NAME)` puts the raw value into the
# recipe as one single-quoted shell word, or DEFAULT when it is empty.
USER_VARIABLES := SERVICE FROM SERVER PORT FAULT EX JA DO ID WHO PYTEST_ARGS NEW
unexport $(USER_VARIABLES)
arg = '$(subst ','\'',$(or $(value $(1)),$(2)))'
# DO="up 20" and PYTEST_ARGS are several words: split as a shell would split them
# (quotes honoured), by Python, still without running anything.
# `$(call shell_words,NAME,DEFAULT)` leaves them in the bash array "$${words[@]}".
shell_words = mapfile -d '' -t words < <($(PYTHON) -c 'import shlex, sys; print("\0".join(shlex.split(sys.argv[1])), end="")' \
  $(call arg,$(1),$(2)))
# The web view's tests drive Debian's Chromium in a container (images/browser): not part
# of the lab, so `lab build` leaves it alone.
BROWSER_IMAGE := $(VENV)/bin/python -m lab.web.browser

.PHONY: help up down clean build config status shell relay-check fault restore bench test lint \
	lab show check reset trace dial hangup install class web screenshot catalogs

help: ## list the targets
	@echo "maillab: Internet mail as a runnable lab (README.md)"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

up: ## start the lab and wait until every service is healthy (LAB_ID=N: a side-by-side lab)
	@$(LAB) up

down: ## stop the lab; mailboxes and queues are kept
	@$(LAB) down

clean: ## stop the lab and delete its mailboxes and queues
	@$(LAB) clean

build: ## (re)build the images, and the Debian base image if no registry has it
	@$(LAB) build

config: ## check .env and show every value derived from it
	@$(LAB) config

status: ## each service's state, and whether X and Y are dialled in
	@$(LAB) status

shell: ## open a shell in a container: make shell SERVICE=client-x
	@$(LAB) shell $(call arg,SERVICE)

relay-check: ## try every relay trick on a provider: make relay-check FROM=outsider SERVER=provider-a
	@$(LAB) relay-check --from $(call arg,FROM,outsider) --server $(call arg,SERVER,provider-a) \
	  --port $(call arg,PORT,25)

fault: ## cause a fault: make fault FAULT=b-down|partition|b-refuses|dns-down|b-crash|b-disk-full|...
	@$(LAB) fault $(call arg,FAULT)

restore: ## undo a fault (make restore FAULT=...), or all of them
	@$(LAB) restore $(if $(value FAULT),$(call arg,FAULT))

web: $(VENV)/.installed ## the lab live in a browser: http://127.0.0.1:10088/ (and :10080; LAB_ID shifts both), until Ctrl-C
	@$(VENV)/bin/python -m lab web

class: ## a class on this server: make class DO="up 20" (status, export, down, clean)
	@$(call shell_words,DO,status); $(LAB) class "$${words[@]}"

bench: $(VENV)/.installed ## measure start-up, idle cost, latency, the web view, throughput, memory, the suite, classes
	@$(BROWSER_IMAGE)
	@$(VENV)/bin/python -m lab bench

# --- the learner's side: exercises (lab/exercises/) and the `lab` command ---------------

lab: ## list the exercises and your progress (JA=1: in Japanese)
	@$(LAB) list $(if $(value JA),--ja)

show: ## read an exercise: make show EX=1 (JA=1: the Japanese edition; TEACHER=1: its teacher's pack)
	@$(LAB) show $(call arg,EX,1) $(if $(value JA),--ja) $(if $(value TEACHER),--teacher)

check: ## check your work on an exercise, step by step: make check EX=1 (JA=1: in Japanese)
	@$(if $(value EX),$(LAB) check $(call arg,EX) $(if $(value JA),--ja),$(PYTHON) -m lab.say check-needs-ex $(if $(value JA),--ja))

reset: ## back to a clean lab in seconds: queues and mailboxes emptied, settings from .env
	@$(LAB) reset

trace: ## the path of a message through the lab: make trace (the last one) or ID='<message-id>' (JA=1)
	@$(LAB) trace $(call arg,ID,--last) $(if $(value JA),--ja)

dial: ## connect a customer to its provider: make dial WHO=x (or y)
	@$(LAB) dial $(call arg,WHO)

hangup: ## cut a customer off its provider: make hangup WHO=x (or y)
	@$(LAB) hangup $(call arg,WHO)

install: $(VENV)/.installed ## put the `lab` command in .venv/bin (then: . .venv/bin/activate)
	@$(PYTHON) -m lab.say installed $(if $(value JA),--ja)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	$(VENV)/bin/pip install --quiet --no-deps 'nicegui==3.18.0'  # xterm.js's files only (pyproject.toml)
	touch $@

test: $(VENV)/.installed ## build, start isolated copies of the lab, prove every step, tear them down
	@$(LAB) build
	@$(BROWSER_IMAGE)
	@$(call shell_words,PYTEST_ARGS); \
	  $(VENV)/bin/pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup) "$${words[@]}"

screenshot: $(VENV)/.installed ## the README's picture of the web view (docs/web-view.png), taken by the tests' browser
	@$(LAB) build
	@$(BROWSER_IMAGE)
	MAILLAB_SCREENSHOT=$(CURDIR)/docs/web-view.png $(VENV)/bin/pytest -q tests/test_23_web.py -k b_down_shows

# --- the lab's languages (lab/i18n.py): one gettext domain, maillab, for every string of lab/ --------
# Extract every marked string (babel.cfg) into the template, bring each language's .po up
# to date with it (a changed English string comes back fuzzy, a removed one goes), compile
# each .po to the .mo that lab reads (committed: the host side needs nothing but Python).
# NEW=ko starts a catalog for a third language first (an existing one is kept).
POT := lab/locale/maillab.pot
PYBABEL := $(VENV)/bin/pybabel

catalogs: $(VENV)/.installed ## extract the marked strings, update each language's .po, compile the .mo (NEW=ko: add one)
	@mkdir -p lab/locale
	@$(PYBABEL) -q extract -F babel.cfg --add-comments=Translators: --add-location=file --sort-by-file \
	  --project=maillab --no-wrap -o $(POT) .
	@$(if $(value NEW),[ -e lab/locale/$(call arg,NEW)/LC_MESSAGES/maillab.po ] || \
	  $(PYBABEL) init -i $(POT) -d lab/locale -D maillab --no-wrap -l $(call arg,NEW))
	@$(PYBABEL) -q update -i $(POT) -d lab/locale -D maillab --ignore-obsolete --ignore-pot-creation-date \
	  --no-wrap
	@$(PYBABEL) compile -d lab/locale -D maillab --statistics

lint: $(VENV)/.installed ## ruff on the Python, shellcheck on the images' scripts
	$(VENV)/bin/ruff check lab tests
	@command -v shellcheck >/dev/null || { echo "make lint: shellcheck is missing (Debian: apt-get install shellcheck)" >&2; exit 2; }
	shellcheck -x $$(grep -rlE '^#!/bin/(ba)?sh' images)
