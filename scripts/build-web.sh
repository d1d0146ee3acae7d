#!/usr/bin/env bash
# Builds the web UI (web/ -> web/dist, which `lattice server` serves at /):
# `npm ci` when web/package-lock.json changed since the last install, then
# the type check and `vite build` when a source changed since the last
# build. Idempotent and quick when nothing changed. Needs node and npm
# (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../web"

lock_stamp=node_modules/.lattice-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $lock_stamp || $(cat "$lock_stamp") != "$want" ]]; then
  echo "build-web: installing the UI's npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$lock_stamp"
fi

# Everything the bundle is made from; the API schema too, since the client's
# types are generated from it.
sources=$( (find src -type f; ls index.html package.json package-lock.json tsconfig.json vite.config.ts \
  ../api/openapi.yaml) | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
build_stamp=dist/.lattice-sources.sha256
if [[ -f $build_stamp && $(cat "$build_stamp") == "$sources" && -f dist/index.html ]]; then
  exit 0
fi
echo "build-web: building the UI (web/dist)"
npm run --silent build -- --logLevel warn
echo "$sources" > "$build_stamp"
