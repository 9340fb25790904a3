#!/usr/bin/env bash
# The unit tests on every other Python from 3.10 to 3.13 this machine has, each in a
# virtual environment of its own (.venv-3.X); `make test` covers the one of .venv.
# A Python is python3.X on PATH if it runs (a pyenv shim of a version that is not
# active is on PATH but fails), else pyenv's own copy; one that is missing is named and
# skipped. Each run installs the package with its dev extra into its environment (about
# 25 s the first time, and again whenever pyproject.toml changes).
set -euo pipefail
cd "$(dirname "$0")/.."
current=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
status=0
for version in ${PYTHONS:-3.10 3.11 3.12 3.13}; do
    [ "$version" = "$current" ] && continue
    python=""
    for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
        if "$candidate" -c 'import sys' >/dev/null 2>&1; then
            python=$candidate
            break
        fi
    done
    if [ -z "$python" ]; then
        echo "== Python $version: not on this machine, skipped"
        continue
    fi
    env=".venv-$version"
    if [ ! -f "$env/.installed" ] || [ pyproject.toml -nt "$env/.installed" ]; then
        "$python" -m venv "$env"
        "$env/bin/python" -m pip install --quiet --upgrade pip
        "$env/bin/python" -m pip install --quiet -e ".[dev]"
        touch "$env/.installed"
    fi
    echo "== $("$env/bin/python" --version)"
    # Every unit test: the dev extra has all they need. Those of the documentation build
    # skip, saying so (the docs extra is for make test's one Python).
    "$env/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider || status=1
done
exit $status
