#!/usr/bin/env bash
# Set up Sluice from this checkout and run it or its tests.
#
#   ./dev.sh demo   set up, then open Sluice on the bundled demo mailbox
#   ./dev.sh test   set up, then run the whole test suite
#
# Setting up means: Debian packages (when run as root; otherwise the
# missing ones are named), a virtual environment in .venv, and Sluice with
# its test extras installed into it in editable mode.
set -euo pipefail
cd "$(dirname "$0")"

QT_PACKAGES="libegl1 libgl1 libx11-6 libbrotli1 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 libxkbcommon0
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-render0 libxcb-shape0
  libxcb-util1 libxcb-xkb1 libxkbcommon-x11-0 fonts-dejavu-core fonts-wqy-microhei
  fonts-noto-color-emoji libnss3 libxcomposite1 libxdamage1 libxtst6 libasound2"
TEST_PACKAGES="dovecot-imapd dovecot-sieve xvfb"
BASE_PACKAGES="python3 python3-venv python3-pip"

missing_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    echo "${missing[@]:-}"
}

install_packages() {
    # shellcheck disable=SC2086 # the lists are meant to split into words
    local missing
    missing=$(missing_packages $BASE_PACKAGES $QT_PACKAGES "$@")
    [ -z "$missing" ] && return 0
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "Not a Debian system: install Python 3.11+, the Qt 6 runtime libraries and $* yourself." >&2
        return 0
    fi
    if [ "$(id -u)" = 0 ]; then
        echo "Installing Debian packages: $missing"
        apt-get update -q
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    else
        echo "Missing Debian packages: $missing" >&2
        echo "Install them with: sudo apt-get install --no-install-recommends $missing" >&2
        exit 1
    fi
}

python_binary() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "Sluice needs Python 3.11 or newer; install python3 (Debian 12 ships 3.11)." >&2
    exit 1
}

setup_venv() {
    if [ ! -x .venv/bin/python ]; then
        "$(python_binary)" -m venv .venv
    fi
    # Install again only when pyproject.toml changed since the last install.
    if [ .venv/.installed -nt pyproject.toml ]; then
        return 0
    fi
    echo "Installing Sluice and its Python packages into .venv (log: .venv/install.log)"
    if ! { .venv/bin/python -m pip install --upgrade pip &&
           .venv/bin/python -m pip install -e '.[test]'; } >.venv/install.log 2>&1; then
        tail -n 30 .venv/install.log >&2
        echo "Installing the Python packages failed; the whole log is in .venv/install.log" >&2
        exit 1
    fi
    touch .venv/.installed
}

case "${1:-}" in
    demo)
        install_packages
        setup_venv
        shift
        exec .venv/bin/sluice --demo "$@"
        ;;
    test)
        # shellcheck disable=SC2086
        install_packages $TEST_PACKAGES
        setup_venv
        shift
        export QT_QPA_PLATFORM=offscreen
        exec .venv/bin/python -m pytest "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo | ./dev.sh test [PYTEST-ARGS]" >&2
        exit 2
        ;;
esac
