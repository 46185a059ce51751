#!/bin/sh
# Checks for what compiling zfec and py-libp2p's fastecdsa needs (on arm64 there
# are no wheels for them), and stops with the exact apt-get line if something is missing.
PY="${1:-python3}"
missing=""
command -v "$PY" >/dev/null 2>&1 || missing="$missing python3"
"$PY" -c "import venv, ensurepip" >/dev/null 2>&1 || missing="$missing python3-venv"
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing="$missing build-essential"
inc=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])" 2>/dev/null)
[ -n "$inc" ] && [ -f "$inc/Python.h" ] || missing="$missing python3-dev"
gmp=0
for d in /usr/include /usr/local/include /usr/include/*-linux-gnu; do
  [ -f "$d/gmp.h" ] && gmp=1
done
[ "$gmp" = 1 ] || missing="$missing libgmp-dev"
if [ -n "$missing" ]; then
  echo "Some system packages needed to build citizen's dependencies are missing." >&2
  echo "Install them, then run the same make command again:" >&2
  echo "" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
