#!/bin/bash
# Installs a Stampede engine release from the directory it was unpacked to:
#   sudo ./install.sh            install (or upgrade) the binary, unit, pre-start step, docs and
#                                kernel settings; apply the kernel settings; reload systemd
#   DESTDIR=/tmp/root ./install.sh   the same into another root (image builds, tests): no
#                                sysctl, no systemctl
# It does not enable or start the engine: cloud-init does that after writing
# /etc/stampede/engine.env, or the operator does (see README.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=${DESTDIR:-}

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

for file in stampede-engine stampede-engine.sha256 stampede-engine.service engine-prestart \
  90-stampede-engine.conf engine.env.example README.md; do
  [ -f "$here/$file" ] || fail "$file is missing from $here (an incomplete release?)"
done
(cd "$here" && sha256sum --check --quiet --strict stampede-engine.sha256) ||
  fail "stampede-engine does not match stampede-engine.sha256"

install -D -m 0755 "$here/stampede-engine" "$root/usr/local/bin/stampede-engine"
install -D -m 0755 "$here/engine-prestart" "$root/usr/local/lib/stampede-engine/engine-prestart"
install -D -m 0644 "$here/stampede-engine.service" "$root/etc/systemd/system/stampede-engine.service"
install -D -m 0644 "$here/90-stampede-engine.conf" "$root/etc/sysctl.d/90-stampede-engine.conf"
install -D -m 0644 "$here/README.md" "$root/usr/local/share/doc/stampede-engine/README.md"
install -D -m 0644 "$here/engine.env.example" "$root/usr/local/share/doc/stampede-engine/engine.env.example"
install -d -m 0755 "$root/etc/stampede"

if [ -z "$root" ]; then
  sysctl --quiet --system >/dev/null
  systemctl daemon-reload
fi
echo "installed $("$root/usr/local/bin/stampede-engine" --version)"
