#!/usr/bin/env bash
# Install the Debian packages GridWatch needs, only those missing. Run as root on Debian 12.
#   scripts/system-deps.sh            runtime: python3-venv, node/npm (for `make assets`)
#   scripts/system-deps.sh test       plus Chromium for the browser tests
set -euo pipefail

want=()
python3 -c "import ensurepip, venv" 2>/dev/null || want+=(python3-venv python3-pip)
command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
command -v git >/dev/null 2>&1 || want+=(git)
if [ "${1:-}" = "test" ]; then
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
  # Screenshots of Chinese pages need a CJK font; a small one suffices.
  dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || want+=(fonts-wqy-microhei)
fi
# Responsibility plates are made into PDFs by WeasyPrint (Pango shapes the text) in a CJK font
# with a bold weight: the server needs both, not only the tests (docs/plates.md).
dpkg -s libpango-1.0-0 >/dev/null 2>&1 || want+=(libpango-1.0-0)
dpkg -s libpangoft2-1.0-0 >/dev/null 2>&1 || want+=(libpangoft2-1.0-0)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || want+=(fonts-noto-cjk)
# A local PostGIS is only ours to install when no DATABASE_URL points elsewhere; the tests
# also start throwaway clusters of their own (a primary and a standby, tests/
# test_replicas_and_backups.py), which need the server's binaries whatever DATABASE_URL says.
if [ -z "${DATABASE_URL:-}" ] || [ "${1:-}" = "test" ]; then
  major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
  major=${major:-15}
  dpkg -s "postgresql-$major" >/dev/null 2>&1 || want+=("postgresql-$major")
  dpkg -s "postgresql-$major-postgis-3" >/dev/null 2>&1 || want+=("postgresql-$major-postgis-3")
fi

if [ ${#want[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "system-deps: missing Debian packages: ${want[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "system-deps: installing ${want[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
