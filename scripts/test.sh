#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need, then builds and runs them.
# Tests that need a server start it themselves on a loopback port under a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
# The tests' PyPI packages are in the virtual environment install-deps.sh made: its python3 (the test
# servers' interpreter) and moto_server come first. Tests that mean the system's use /usr/bin/python3.
export VIRTUAL_ENV="$PWD/.venv-test"
export PATH="$VIRTUAL_ENV/bin:$PATH"
# The Debian package: built, linted, installed into a fresh Debian 12 root, used, removed.
if [ "$(id -u)" -eq 0 ]; then
    scripts/verify-deb.sh
elif [ "${CI:-}" = true ]; then
    echo "packaging check needs root (debootstrap, chroot)"; exit 1
else
    echo "skipped: the packaging check (scripts/verify-deb.sh) needs root"
fi
swift build --build-tests
swift test
