#!/bin/sh
# Installs the pip requirements of the named exporters, as the original
# metrics tool's image did with its EXPORTERS build argument:
#
#   install-exporter-requirements.sh EXPORTERS_DIR "dummy,cisco"
#
# For each name (separated by commas or spaces) it looks for
# EXPORTERS_DIR/NAME/requirements.txt and installs all the files found with
# one `pip install`, so pip resolves them together. A name without a
# requirements.txt (a built-in such as dummy, or an exporter that needs only
# prometheus_client) is reported and skipped. A name that could reach outside
# EXPORTERS_DIR is refused. An empty list installs nothing.
#
# PIP overrides the pip command (default: pip, else pip3).
set -eu

usage() {
  echo "usage: $0 EXPORTERS_DIR NAME[,NAME...]" >&2
  exit 2
}

[ $# -eq 2 ] || usage
dir=$1
names=$(printf '%s' "$2" | tr ',' ' ')

pip=${PIP:-}
if [ -z "$pip" ]; then
  if command -v pip >/dev/null 2>&1; then
    pip=pip
  else
    pip=pip3
  fi
fi

set --
for name in $names; do
  # The same rule as exporter names in metricwrap, minus "." and "..".
  case $name in
    . | .. | [!A-Za-z0-9_]* | *[!A-Za-z0-9_.-]*)
      echo "install-exporter-requirements: invalid exporter name \"$name\"" >&2
      exit 2
      ;;
  esac
  req=$dir/$name/requirements.txt
  if [ -f "$req" ]; then
    echo "install-exporter-requirements: $name: $req"
    set -- "$@" -r "$req"
  else
    echo "install-exporter-requirements: $name: no $req, nothing to install"
  fi
done

if [ $# -eq 0 ]; then
  echo "install-exporter-requirements: no requirements to install"
  exit 0
fi
exec $pip install --no-cache-dir "$@"
