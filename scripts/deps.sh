#!/usr/bin/env bash
# deps.sh — installs what Herald needs on Debian 12. Installs only what is missing; safe to run
# again. Runs as root, or through sudo when it is available.
#
#   scripts/deps.sh          # what building and running need (scripts/run.sh calls this)
#   scripts/deps.sh --test   # also what the tests, fuzzers, benches and CI checks need, and the
#                            # Node packages of the interop tests (scripts/test.sh calls this)
set -euo pipefail
cd "$(dirname "$0")/.."
WANT_TEST=0
[ "${1:-}" = "--test" ] && WANT_TEST=1

PACKAGES=(
  # build and run
  cmake make gcc pkg-config ca-certificates curl
  libuv1-dev libhttp-parser-dev libcurl4-openssl-dev libcjson-dev liblmdb-dev libyaml-dev
  librdkafka-dev libnats-dev libssl-dev
)
TEST_PACKAGES=(
  # tests
  check nats-server procps openssl python3 python3-yaml git
  # the web page's browser test (tests/integration/ui_heraldd.sh): headless, no WebDriver
  chromium
  # fuzzing (clang and the libFuzzer runtime of clang 14) and benchmarks
  clang libclang-rt-14-dev nginx-light wrk
  # the format check of .ci/run
  clang-format
)
[ "$WANT_TEST" = 1 ] && PACKAGES+=("${TEST_PACKAGES[@]}")

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

[ "$WANT_TEST" = 1 ] || exit 0

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
