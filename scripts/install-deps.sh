#!/usr/bin/env bash
# Installs everything Lattice needs to build, run and test, idempotently:
# Debian packages (when missing), and the project venv (.venv, made from
# /usr/bin/python3 with --system-site-packages so it sees Debian's torch and
# scikit-learn) with the pinned PyPI packages of requirements-dev.txt, the
# SDK (sdk/python), and the wheels of tests/wheels/requirements.txt, which
# the environment tests and benchmark install without a network, in
# ${LATTICE_TEST_WHEELS:-~/.cache/lattice/test-wheels} (outside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev libarchive-dev libzstd-dev libssl-dev
  libgtest-dev libgmock-dev libyaml-cpp-dev
  clang-14 libclang-rt-14-dev
  python3 python3-venv python3-pip python3-setuptools python3-wheel python3-torch python3-sklearn
  wrk procps iproute2 curl
  slurm-wlm munge openssh-server openssh-client
  nodejs chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Debian's nodejs comes without npm; a nodejs from elsewhere may bundle it.
if ! command -v npm >/dev/null; then missing+=(npm); fi
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "install-deps: creating .venv"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.requirements-dev.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "install-deps: installing Python packages into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
# The Python SDK (package `lattice`, standard library only) that training
# scripts import; editable, so the venv always sees this checkout's copy.
# --no-build-isolation: setuptools comes from Debian, nothing is downloaded.
if ! .venv/bin/python -c "import lattice, sys; sys.exit(0 if lattice.__file__.startswith('$PWD/sdk/python') else 1)" 2>/dev/null; then
  echo "install-deps: installing the Lattice SDK into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e sdk/python
fi

# The test wheels: downloaded once, again only when the list changes.
wheels=${LATTICE_TEST_WHEELS:-$HOME/.cache/lattice/test-wheels}
wheels_stamp=$wheels/.requirements.sha256
want=$(sha256sum tests/wheels/requirements.txt | cut -d' ' -f1)
if [[ ! -f $wheels_stamp || $(cat "$wheels_stamp") != "$want" ]]; then
  echo "install-deps: downloading the test wheels into $wheels"
  mkdir -p "$wheels"
  rm -f "$wheels"/*.whl
  .venv/bin/pip download --quiet --disable-pip-version-check --only-binary=:all: -d "$wheels" \
    -r tests/wheels/requirements.txt
  echo "$want" > "$wheels_stamp"
fi
