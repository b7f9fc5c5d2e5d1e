#!/usr/bin/env bash
# deps.sh — installs what Herald's build, tests and tools need on Debian 12, then the Node
# packages of the interop tests. Installs only what is missing; safe to run again.
# Runs as root, or through sudo when it is available.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  cmake make gcc clang pkg-config git ca-certificates
  libuv1-dev libhttp-parser-dev libcurl4-openssl-dev libcjson-dev liblmdb-dev libyaml-dev
  librdkafka-dev libnats-dev libssl-dev
  # tests
  check nats-server curl procps openssl python3
  # the web page's browser test (tests/integration/ui_heraldd.sh): headless, no WebDriver
  chromium
  # fuzzing (libFuzzer runtime for clang 14) and benchmarks
  libclang-rt-14-dev nginx-light wrk
  # the format check of .ci/run
  clang-format
)

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "deps: all Debian packages present"
fi

# Node.js: the machine's own (Node 20 from NodeSource on our build machines) is kept; Debian's
# nodejs + npm (Node 18) are installed only when there is no node at all, since installing
# Debian's npm next to NodeSource's nodejs would replace it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "deps: installing Debian's nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "deps: warning: node $(node --version) is older than 20, which the pinned cloudevents" \
       "package asks for" >&2
fi

# Node packages of tests/interop (the official CloudEvents JS SDK, version pinned in
# package.json). Skipped when already installed at that version.
if [ ! -d tests/interop/node_modules/cloudevents ] ||
   ! node -e 'const w=require("./tests/interop/package.json").dependencies.cloudevents;
              const h=require("./tests/interop/node_modules/cloudevents/package.json").version;
              process.exit(w===h?0:1)' 2>/dev/null; then
  echo "deps: npm install in tests/interop"
  (cd tests/interop && npm install --no-audit --no-fund --loglevel=error)
fi
