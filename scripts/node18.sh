#!/usr/bin/env bash
# Prints the path of a wrapper that runs Debian bookworm's own nodejs 18.20 (the runtime on Proxmox
# VE 8 hosts) without installing it: the packages are extracted into .cache/node18 and Debian's
# externalized builtins (/usr/share/nodejs/*) are bind-mounted in a private mount namespace.
# Needs root (unshare -m). Used by CI to run the end-to-end tests on the oldest supported runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache/node18
wrapper="$PWD/$cache/node18"
if [ -x "$wrapper" ] && "$wrapper" -e 'process.exit(process.version.startsWith("v18.") ? 0 : 1)' 2>/dev/null; then
  echo "$wrapper"; exit 0
fi
rm -rf "$cache" && mkdir -p "$cache/debs"
version=$(apt-cache madison nodejs | awk '$3 ~ /^18\./ {print $3; exit}')
[ -n "$version" ] || { echo "no nodejs 18 in the apt sources (run apt-get update)" >&2; exit 1; }
(cd "$cache/debs" && apt-get download -qq "nodejs=$version" "libnode108=$version" libc-ares2 libuv1 \
   node-cjs-module-lexer node-acorn node-undici libicu72 libbrotli1 >&2)
for f in "$cache"/debs/*.deb; do dpkg -x "$f" "$cache/root"; done
mkdir -p /usr/share/nodejs
cat > "$wrapper" <<'WRAP'
#!/bin/sh
R=$(dirname "$(readlink -f "$0")")/root
exec unshare -m sh -c 'mount --bind "$0/usr/share/nodejs" /usr/share/nodejs && exec env LD_LIBRARY_PATH="$0/usr/lib/x86_64-linux-gnu" "$0/usr/bin/node" "$@"' "$R" "$@"
WRAP
chmod +x "$wrapper"
"$wrapper" -e 'if (!process.version.startsWith("v18.")) process.exit(1)' >&2
echo "$wrapper"
