#!/usr/bin/env bash
# The unit tests on every other Python from 3.10 to 3.13 this machine has, each in a
# virtual environment of its own (.venv-3.X); `make test` covers the one of .venv.
# A Python is found on PATH (python3.X) or among pyenv's versions; one that is missing
# is named and skipped.
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
    # The same extras as make test's .venv: the docs tests build the site on each Python.
    extras="dev,docs"
    if [ "$(cat "$env/.installed" 2>/dev/null)" != "$extras" ] || [ pyproject.toml -nt "$env/.installed" ]; then
        "$python" -m venv "$env"
        "$env/bin/python" -m pip install --quiet --upgrade pip
        "$env/bin/python" -m pip install --quiet -e ".[$extras]"
        echo "$extras" >"$env/.installed"
    fi
    echo "== $("$env/bin/python" --version)"
    # The docs snippets' type check runs once, in make test, on the main Python.
    "$env/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider \
        --ignore=tests/test_docs_typecheck.py || status=1
done
exit $status
