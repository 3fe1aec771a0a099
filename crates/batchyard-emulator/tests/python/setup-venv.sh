#!/bin/sh
# Creates (once) a virtual environment holding Microsoft's Python Batch and Blob Storage
# SDKs from PyPI.
# Usage: setup-venv.sh VENV_DIR
set -eu
venv="$1"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import azure.batch, azure.storage.blob" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
