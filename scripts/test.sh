#!/usr/bin/env bash
# test.sh — configures, builds and runs the whole test suite (unit, integration, interop) with
# ctest, and prints ctest's summary line. Exit status is ctest's.
#
#   scripts/test.sh                      # build/ , Debug
#   BUILD_DIR=build-asan CMAKE_ARGS="-DHERALD_SANITIZE=ON" scripts/test.sh
#   scripts/test.sh -R cli_event         # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Debug}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
read -r -a EXTRA <<<"${CMAKE_ARGS:-}"

if [ ! -d tests/interop/node_modules/cloudevents ] && command -v npm >/dev/null; then
  (cd tests/interop && npm install --no-audit --no-fund --loglevel=error)
fi

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${EXTRA[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j"$JOBS" "$@"
