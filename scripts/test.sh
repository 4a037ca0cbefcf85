#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need, then builds and runs them.
# Tests that need a server start it themselves on a loopback port under a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
swift build --build-tests
swift test
