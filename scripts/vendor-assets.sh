#!/usr/bin/env bash
# Copy the pinned npm packages' browser files into app/static/vendor/<name>-<version>/.
# The version in the path makes cache-busting automatic and shows what is served.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=app/static/vendor
rm -rf "$dest"
mkdir -p "$dest"

version() { node -p "require('./node_modules/$1/package.json').version"; }

copy() {  # copy PACKAGE SUBDIR: node_modules/PACKAGE/SUBDIR -> vendor/PACKAGE-VERSION/
  local pkg=$1 sub=$2 v
  v=$(version "$pkg")
  mkdir -p "$dest/$pkg-$v"
  cp -R "node_modules/$pkg/$sub/." "$dest/$pkg-$v/"
}

copy leaflet dist
# A manifest the app reads to find each library's versioned folder.
node -e '
const fs = require("fs");
const pkgs = Object.keys(require("./package.json").dependencies);
const out = {};
for (const p of pkgs) out[p] = p + "-" + require("./node_modules/" + p + "/package.json").version;
fs.writeFileSync("app/static/vendor/manifest.json", JSON.stringify(out, null, 2) + "\n");
'
echo "vendor assets: $(ls "$dest" | tr '\n' ' ')"
