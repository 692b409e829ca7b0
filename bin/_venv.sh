# Sourced by bin/start and bin/test: make .venv and install requirements.txt
# whenever it changed since the last install.
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# (hashed by Python: macOS has no sha256sum)
want=$("$PYTHON" -c 'import hashlib; print(hashlib.sha256(open("requirements.txt", "rb").read()).hexdigest())')
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  echo "Installing requirements into .venv ..." >&2
  # Some machines' pip configs list local indexes that may be absent: their
  # "Location ... is ignored" warnings are noise, anything else is shown.
  if ! .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt > .venv/pip.log 2>&1; then
    grep -v "^WARNING: Location .* is ignored" .venv/pip.log >&2
    echo "Installing requirements failed (full log: .venv/pip.log)." >&2
    exit 1
  fi
  grep -v "^WARNING: Location .* is ignored" .venv/pip.log >&2 || true
  echo "$want" > .venv/.requirements.sha256
fi
export PATH="$PWD/.venv/bin:$PATH"
