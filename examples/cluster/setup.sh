#!/usr/bin/env bash
# Set up the example SLURM computer and its codes in an AiiDA profile (default: the current one).
# Edit computer.yaml, ssh.yaml and codes/*.yaml for your site first; see docs/cluster.md.
# Usage: examples/cluster/setup.sh [PROFILE]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
verdi=(verdi ${1:+-p "$1"})
"${verdi[@]}" computer setup --config "$here/computer.yaml" -n
"${verdi[@]}" computer configure core.ssh_async cluster --config "$here/ssh.yaml" -n
for code in "$here"/codes/*.yaml; do
    "${verdi[@]}" code create core.code.installed --config "$code" -n
done
echo "Now check the login and the scheduler: ${verdi[*]} computer test cluster"
