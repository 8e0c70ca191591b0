#!/bin/sh
# `npm run bench:setup`: the comparison tools of the SSH fan-out bench, from Debian's packages
# (bookworm: pssh gives parallel-ssh, ansible-core gives ansible). Installs only what is
# missing; runs `apt-get update` only when the first install fails (stale package lists).
set -eu
missing=""
command -v parallel-ssh >/dev/null 2>&1 || missing="$missing pssh"
command -v ansible >/dev/null 2>&1 || missing="$missing ansible-core"
if [ -z "$missing" ]; then
  echo "bench:setup: parallel-ssh and ansible are installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bench:setup: installing$missing needs root (apt-get)" >&2
  exit 1
fi
echo "bench:setup: apt-get install -y$missing"
# shellcheck disable=SC2086 # the package names are meant to split
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; then
  DEBIAN_FRONTEND=noninteractive apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
