#!/usr/bin/env bash
# One command for everything, as root, on Debian/Ubuntu:
#   sudo ./setup.sh          install (idempotent; fast when nothing changed)
#   sudo ./setup.sh run      install, then run the main job (harness/run.py compare) on its defaults
#   sudo ./setup.sh test     install, then run the test suite
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

APT_PACKAGES=(mininet bridge-utils tcpdump iperf3 ethtool iproute2 iputils-ping procps psmisc tmux python3-venv python3-dev gcc dataset-fashion-mnist openssh-server sudo)
SYSTEM_PYTHON=/usr/bin/python3
VENV=.venv

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: needs root (apt packages, network namespaces): run 'sudo ./setup.sh ${1:-}'" >&2
  exit 1
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV (system site packages, for mininet)"
  "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
fi

stamp=$(cat setup.cfg pyproject.toml setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.setup-stamp" 2>/dev/null)" != "$stamp" ]; then
  say "installing Python packages into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]'
  echo "$stamp" > "$VENV/.setup-stamp"
fi
say "environment ready ($VENV)"

case "${1:-}" in
  "") ;;
  run)  shift; exec "$VENV/bin/python" harness/run.py compare "$@" ;;
  test)
    shift
    set +e
    "$VENV/bin/python" -m pytest "$@"
    rc=$?
    [ $rc -eq 5 ] && { echo "setup: pytest collected no tests: failing" >&2; exit 1; }
    exit $rc ;;
  *) echo "setup: unknown command '$1' (use: run, test, or nothing)" >&2; exit 2 ;;
esac
