#!/usr/bin/env bash
# The dashboard's vendored Socket.IO client (static/vendor/socket.io.min.js), taken unchanged
# from the socket.io-client that clients/node pins (clients/node/package-lock.json).
#
#   npm ci --prefix clients/node              # the pinned package (bash .ci/run does this)
#   scripts/vendor-assets.sh                  # copy it into static/vendor/
#   scripts/vendor-assets.sh --check          # fail if static/vendor/ differs from it
#   scripts/vendor-assets.sh --check DIR      # the same for another directory (e.g. a copy)
#   scripts/vendor-assets.sh DIR              # copy into another directory
#
# To upgrade: bump socket.io-client in clients/node/package.json, `npm install --prefix
# clients/node`, run this script, update the version in the comment of static/index.html
# (--check compares it), and commit the lock file and static/vendor/ together.
#
# Only socket.io.min.js is copied. Its source map is not: src/http/dashboard.rs serves a fixed
# list of files, and the page works without it (browsers ask for the map only when their
# developer tools are open).
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
vendor_dir=static/vendor
case "$#:${1:-}" in
  0:) ;;
  1:--check) check=true ;;
  2:--check) check=true; vendor_dir=$2 ;;
  1:-*) echo "usage: $0 [--check] [DIR]" >&2; exit 2 ;;
  1:*) vendor_dir=$1 ;;
  *) echo "usage: $0 [--check] [DIR]" >&2; exit 2 ;;
esac

lock=clients/node/package-lock.json
package=clients/node/node_modules/socket.io-client
files=(socket.io.min.js)

fail() {
  echo "vendor-assets: $*" >&2
  exit 1
}

# The version the lock file pins, and the version installed in node_modules.
pinned=$(node -p "require('./$lock').packages['node_modules/socket.io-client'].version")
[ -f "$package/package.json" ] \
  || fail "$package is not installed: run \`npm ci --prefix clients/node\` first"
installed=$(node -p "require('./$package/package.json').version")
[ "$installed" = "$pinned" ] \
  || fail "$package is $installed but $lock pins $pinned: run \`npm ci --prefix clients/node\`"

# The version the vendored file says it is: its license header reads "Socket.IO v4.8.4".
header_version() {
  sed -n '2s/^ \* Socket\.IO v\([^ ]*\)$/\1/p' "$1"
}
# The version the page's comment names ("Socket.IO JavaScript client v4.8.4").
page_version=$(sed -n 's/.*Socket\.IO JavaScript client v\([0-9][^ ]*\).*/\1/p' static/index.html)

if $check; then
  for file in "${files[@]}"; do
    embedded="$vendor_dir/$file"
    [ -f "$embedded" ] || fail "$embedded is missing: run scripts/vendor-assets.sh"
    version=$(header_version "$embedded")
    [ "$version" = "$pinned" ] \
      || fail "$embedded is Socket.IO ${version:-(no version header)}, but $lock pins" \
        "socket.io-client $pinned: run scripts/vendor-assets.sh"
    if ! cmp -s "$package/dist/$file" "$embedded"; then
      # cmp says "... differ: byte N, line L" or "cmp: EOF on FILE after byte N, ...".
      at=$(cmp "$package/dist/$file" "$embedded" 2>&1 \
        | sed -n 's/.*differ: byte \([0-9]*\).*/\1/p; s/.*EOF on .* after byte \([0-9]*\).*/\1+1/p' || true)
      fail "$embedded differs from socket.io-client $pinned's dist/$file" \
        "($(wc -c <"$embedded") bytes against $(wc -c <"$package/dist/$file")," \
        "first difference at byte $((at))): run scripts/vendor-assets.sh"
    fi
  done
  [ "$page_version" = "$pinned" ] \
    || fail "static/index.html's comment names Socket.IO client v${page_version:-?}," \
      "but the vendored copy is $pinned: update the comment"
  echo "vendor-assets: $vendor_dir/${files[*]} is socket.io-client $pinned, byte for byte"
else
  mkdir -p "$vendor_dir"
  for file in "${files[@]}"; do
    cp "$package/dist/$file" "$vendor_dir/$file"
  done
  echo "vendor-assets: copied socket.io-client $pinned's dist/${files[*]} into $vendor_dir/"
  [ "$page_version" = "$pinned" ] \
    || echo "vendor-assets: now update the version in static/index.html's comment" \
      "(v${page_version:-?} → v$pinned)" >&2
fi
