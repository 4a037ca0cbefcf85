#!/usr/bin/env bash
# Installs the Debian packages polyarchiv builds and tests with, when they are missing.
# Usage: scripts/install-deps.sh [build|test]   (test also installs what the tests use)
# `test` also makes the virtual environment .venv-test/ (at the repository's root) holding the tests'
# PyPI packages: Debian 12's Python refuses pip installs into it (PEP 668). scripts/test.sh puts its
# bin/ first on PATH, so the test servers' `python3` is the environment's.
set -euo pipefail
mode=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
packages=(pkg-config libgit2-dev libcurl4-openssl-dev libarchive-dev libsqlite3-dev sqlite3 zstd)
if [ "$mode" = test ]; then
    # promtool (prometheus) judges the metrics file; age judges encryption; openssl makes test certificates.
    packages+=(graphviz xz-utils bzip2 prometheus age openssl git)
    # tmux: the terminal output is checked in a real terminal.
    packages+=(tmux)
    # The pushgateway hook is tested against Debian's Prometheus Pushgateway (started by the test on loopback).
    packages+=(prometheus-pushgateway)
    # getfattr/setfattr, getfacl/setfacl and setcap/getcap judge what the tree keeps of a file's metadata.
    packages+=(attr acl libcap2-bin)
    # python3-venv: the virtual environment of the tests' PyPI packages (below).
    packages+=(python3-venv)
    # The servers the sources are tested against (started by the tests on loopback, never as services).
    packages+=(postgresql mariadb-server mariadb-client slapd ldap-utils dovecot-core dovecot-imapd openssh-server
               openssh-client rsync sudo)
    # …and the transports and backup points: WebDAV and git over HTTP (nginx, fcgiwrap), restic.
    packages+=(nginx libnginx-mod-http-dav-ext fcgiwrap restic)
fi
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi
if [ "$mode" = test ]; then
    venv=$root/.venv-test
    python=$venv/bin/python3
    # Made anew when missing or broken (its Python gone); pip updated once, when it is made.
    if ! "$python" -c '' 2>/dev/null; then
        echo "making the test environment $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$python" -m pip install -q --upgrade pip
    fi
    requirements=()
    # Test servers that Debian does not package for this Python: the SMTP server of the email hook's tests.
    "$python" -c 'import aiosmtpd' 2>/dev/null || requirements+=(aiosmtpd)
    # FTP(S) with TLS on the data channel needs pyftpdlib 2 (Debian's 1.5.7 fails), and S3 is moto_server.
    "$python" -c 'import pyftpdlib, OpenSSL; assert int(pyftpdlib.__ver__.split(".")[0]) >= 2' 2>/dev/null \
        || requirements+=('pyftpdlib>=2.2' pyopenssl)
    "$python" -c 'import moto, flask, flask_cors' 2>/dev/null || requirements+=('moto[server]')
    # The apprise hook runs the apprise CLI.
    "$python" -c 'import apprise' 2>/dev/null || requirements+=(apprise)
    if [ ${#requirements[@]} -gt 0 ]; then
        echo "installing into $venv: ${requirements[*]}"
        "$python" -m pip install -q "${requirements[@]}"
    fi
fi
