# PixelSecurer: `make book` builds the HTML book, `make test` runs every test.
# Both create .venv and install the package when needed (skipped when pyproject.toml is unchanged).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
# The profile `make book` executes the pages under: BOOK_PROFILE, else PIXELSECURER_PROFILE, else cpu.
BOOK_PROFILE ?= $(or $(PIXELSECURER_PROFILE),cpu)
TEST_CACHE ?= $(CURDIR)/.cache/test
TEST_BUILD ?= $(CURDIR)/_build/test-book
GPU_WHEELS ?= $(CURDIR)/_build/gpu-wheels
NOTEBOOKS := $(sort $(wildcard book/*.ipynb book/assignments/*.ipynb))
# Course assignments (Otter-Grader): `make assignment [FORGET=age:LO-HI] [VARIANT_SEED=N]`,
# `make grade SUBMISSION=path/to/notebook.ipynb`. Grading always runs the smoke profile.
ASSIGNMENT_OUT ?= $(CURDIR)/_build/assignment
GRADE_CACHE ?= $(CURDIR)/.cache/grade
GRADE_CELL_TIMEOUT ?= 300
GRADE_TIMEOUT ?= 1200
COURSE_ENV = PIXELSECURER_STATIC=1 PIXELSECURER_PROFILE=smoke

.PHONY: all install book test unit nbval solutions grading book-test browser-check test-gpu gpu-wheels test-browser bench sync clean assignment grade checkpoints

all: book

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -e '.[book,test,cluster,course]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Write every page's install cell from the version and repository.url (pinned to tag
# v{version}), the tag the Colab buttons open (repository.branch), README's install line,
# CITATION.cff, and the Colab copies (book/*.ipynb: outputs stripped, plain Markdown, figure
# captions kept) from the MyST sources. tests/test_pairing.py fails when any of them drifts.
sync: install
	$(PY) course/assign.py book-page
	$(PY) tools/pairing.py --write

# Each profile builds in _build/<profile>/ (emptied when the data, epochs or device changed),
# so a page executed under one profile is never published as another's.
book: install
	@dir="$$($(PY) tools/book_dir.py $(BOOK_PROFILE))" && \
	PIXELSECURER_STATIC=1 PIXELSECURER_PROFILE=$(BOOK_PROFILE) $(VENV)/bin/jupyter-book build -W --keep-going \
		--path-output "$$dir" . && \
	echo "open $$dir/_build/html/index.html"

unit: install
	PIXELSECURER_PROFILE=smoke PIXELSECURER_CACHE=$(TEST_CACHE)/unit $(PY) -m pytest tests -q

nbval: install
	PIXELSECURER_PROFILE=smoke PIXELSECURER_CACHE=$(TEST_CACHE)/book $(PY) -m pytest -q -p no:cacheprovider \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=600 $(NOTEBOOKS)

# The instructor solutions are not paired notebooks: run each one (smoke, same cache as nbval).
solutions: install
	PIXELSECURER_STATIC=1 PIXELSECURER_PROFILE=smoke PIXELSECURER_CACHE=$(TEST_CACHE)/book $(PY) tests/run_solutions.py

# The three grading checks: the solution scores full marks, the untouched student notebook and a
# deliberately wrong submission score less, and none of them crashes the grader.
grading: install
	$(COURSE_ENV) PIXELSECURER_CACHE=$(TEST_CACHE)/book $(PY) tests/run_grading.py --out $(CURDIR)/_build/test-assignment

assignment: install
	$(COURSE_ENV) PIXELSECURER_CACHE=$(GRADE_CACHE) $(PY) course/assign.py build --out $(ASSIGNMENT_OUT) \
		$(if $(FORGET),--forget '$(FORGET)') $(if $(VARIANT_SEED),--seed '$(VARIANT_SEED)')

# The file names reach the recipe through the environment ("$$SUBMISSION"), never pasted into
# the shell line: a name such as x';touch INJECTED;echo '.ipynb is a name, not a command.
grade: export SUBMISSION := $(SUBMISSION)
grade: export GRADE_OUT := $(GRADE_OUT)
grade: install
	@test -n "$$SUBMISSION" || { echo "usage: make grade SUBMISSION=path/to/notebook.ipynb" >&2; exit 2; }
	@$(COURSE_ENV) PIXELSECURER_CACHE=$(GRADE_CACHE) $(PY) course/grade.py "$$SUBMISSION" \
		--cell-timeout $(GRADE_CELL_TIMEOUT) --timeout $(GRADE_TIMEOUT) $${GRADE_OUT:+--out "$$GRADE_OUT"}

book-test: install
	rm -rf $(TEST_BUILD)
	PIXELSECURER_STATIC=1 PIXELSECURER_PROFILE=smoke PIXELSECURER_CACHE=$(TEST_CACHE)/book $(VENV)/bin/jupyter-book build -W --keep-going \
		--path-output $(TEST_BUILD) .

browser-check: install
	BOOK_HTML=$(TEST_BUILD)/_build/html bash tests/browser/run.sh

test: unit nbval solutions grading book-test browser-check
	@echo "make test: unit tests, nbval, the solutions, the grading checks, the -W book build and the browser check all passed"

test-gpu: install
	bash bench/test_gpu.sh

# The small cpu-profile checkpoints the release ships (pixelsecurer_lib/checkpoints/): every
# chapter run under cpu with an empty cache, then the models it trained, with a MANIFEST of
# command, code version, date and machine. Run it after any change that alters a model's spec.
checkpoints: install
	PIXELSECURER_STATIC=1 $(PY) tools/checkpoints.py --profile cpu

# On a connected machine: the wheels the offline GPU machine lacks (Jupyter, nbval, jupytext,
# ipywidgets and their dependencies; not torch, numpy & co., which it has), for manylinux
# x86_64 and CPython 3.12, into $(GPU_WHEELS) (ignored by git). Copy the repository with that
# folder to the GPU machine and run `bash bench/test_gpu.sh` there.
gpu-wheels: install
	rm -rf $(GPU_WHEELS)
	$(PY) -m pip download --only-binary=:all: --platform manylinux2014_x86_64 \
		--platform manylinux_2_28_x86_64 --python-version 3.12 --implementation cp \
		--dest $(GPU_WHEELS) -r bench/gpu-requirements.txt
	@du -sh $(GPU_WHEELS); $(PY) -c "import pathlib, sys; size = sum(f.stat().st_size for f in pathlib.Path(sys.argv[1]).iterdir()); print(f'{size / 2**20:.1f} MiB of wheels'); sys.exit(size >= 64 * 2**20)" $(GPU_WHEELS)

test-browser: install
	bash tests/browser/run.sh

bench: install
	$(PY) bench/run_bench.py

clean:
	rm -rf _build .cache
