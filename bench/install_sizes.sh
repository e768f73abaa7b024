#!/usr/bin/env bash
# Disk footprint of each kind of install: builds the wheel, installs it into fresh virtual environments (one per
# extra, from the package index or pip's cache) and prints the size of each site-packages, pip and setuptools
# excluded (they come with every venv). The collector image installs the `collector-server` extra.
#   bash bench/install_sizes.sh            # app-only, cli, collector-server (the image), collector (embedded store)
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel --no-deps -q -w "$work/dist" . 2>/dev/null
wheel="$(ls "$work"/dist/llmsight-*.whl)"
for extra in "" cli collector-server collector; do
    venv="$work/venv-${extra:-app}"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${wheel}${extra:+[$extra]}" 2>/dev/null
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    total_kb="$(du -sk --exclude='pip' --exclude='pip-*' --exclude='setuptools' --exclude='setuptools-*' \
        --exclude='_distutils_hack' --exclude='pkg_resources' --exclude='distutils-precedence.pth' "$site" | cut -f1)"
    printf '%-22s %6.0f MB\n' "llmsight${extra:+[$extra]}" "$(echo "$total_kb / 1024" | bc -l)"
done
