# aiida-sei: `make demo` runs the main job, `make test` the tests, `make reproduce` the reduced-scale
# reproduction of the paper (two hours); each installs first if needed.
VENV := .venv
# One thread per process: on small machines more threads slow torch, GPAW, FLARE and LAMMPS
# down 10-100x (docs/install.md). Parallelism comes from MPI ranks and separate processes.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: install test demo reproduce docs benchmarks clean

install:
	@bash tools/install.sh

# Two workers, each test module on one of them (module fixtures stay shared); the 25 slowest
# tests are listed at the end; pyproject.toml gives each test a time limit.
test: install
	$(VENV)/bin/python -m pytest tests -n 2 --dist loadfile --durations=25

demo: install
	$(VENV)/bin/aiida-sei demo

# The paper's central result at reduced scale, about two hours on 2 cores (docs/reproduction.md)
reproduce: install
	$(VENV)/bin/aiida-sei reproduce

# The documentation site into site/ (strict: a broken link or an unlisted page fails).
docs: install
	$(VENV)/bin/mkdocs build --strict -d site

# On demand, never in CI: each writes benchmarks/results/<name>.json (datasets takes ~20 min).
benchmarks: install
	for name in structures analyses training classification datasets lammps active_learning active_learning_sweep queries reproduction; do \
		$(VENV)/bin/python benchmarks/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) demo-output
