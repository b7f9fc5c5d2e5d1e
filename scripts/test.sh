#!/usr/bin/env bash
# test.sh — installs what the tests need when missing (scripts/deps.sh --test), then configures,
# builds and runs the whole test suite (unit, integration, interop) with ctest, and prints
# ctest's summary line. Exit status is ctest's.
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

# What the tests need (Debian packages, Node.js and the interop tests' npm packages), when missing.
scripts/deps.sh --test

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DHERALD_TESTS=ON "${EXTRA[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j"$JOBS" "$@"
