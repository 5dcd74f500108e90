#!/usr/bin/env bash
# Copy the pinned npm packages' browser files into app/static/vendor/<name>-<version>/.
# The version in the path makes cache-busting automatic and shows what is served.
# Which folium/branca asset is served from which file is in app/assets.py (VENDOR); its
# tests check that every file a page or a vendored stylesheet refers to is copied here.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=app/static/vendor
rm -rf "$dest"
mkdir -p "$dest"

version() { node -p "require('./node_modules/$1/package.json').version"; }

# copy PACKAGE SUBDIR [PATH...]: node_modules/PACKAGE/SUBDIR/PATH -> vendor/PACKAGE-VERSION/PATH,
# keeping each PATH's place relative to SUBDIR (stylesheets find their fonts and images by
# relative url(...)). Without PATHs, all of SUBDIR.
copy() {
  local pkg=$1 sub=$2 v out
  shift 2
  v=$(version "$pkg")
  out="$PWD/$dest/$pkg-$v"
  mkdir -p "$out"
  if [ $# -eq 0 ]; then
    cp -R "node_modules/$pkg/$sub/." "$out/"
  else
    (cd "node_modules/$pkg/$sub" && cp -R --parents "$@" "$out/")
  fi
}

copy leaflet dist
copy jquery dist jquery.min.js jquery.min.map
copy bootstrap dist css/bootstrap.min.css css/bootstrap.min.css.map \
  js/bootstrap.bundle.min.js js/bootstrap.bundle.min.js.map
copy @fortawesome/fontawesome-free . css webfonts LICENSE.txt
copy glyphicons-only-bootstrap . css fonts
copy leaflet.awesome-markers dist
copy leaflet.markercluster dist leaflet.markercluster.js leaflet.markercluster.js.map \
  MarkerCluster.css MarkerCluster.Default.css
copy leaflet.vectorgrid dist Leaflet.VectorGrid.bundled.js Leaflet.VectorGrid.bundled.js.map
copy leaflet.fullscreen . Control.FullScreen.js Control.FullScreen.css icon-fullscreen.svg LICENSE
copy d3 . d3.min.js LICENSE
# The grid editor draws and snaps with Leaflet-Geoman (loaded by our template, not Folium).
copy @geoman-io/leaflet-geoman-free dist leaflet-geoman.js leaflet-geoman.css
# The statistics pages' charts: Apache ECharts (its "common" build: bar, line, pie; no eval).
copy echarts dist echarts.common.min.js
copy echarts . LICENSE NOTICE

# A manifest the app reads to find each library's versioned folder; every dependency in
# package.json must have been copied above.
node -e '
const fs = require("fs");
const pkgs = Object.keys(require("./package.json").dependencies);
const out = {};
for (const p of pkgs) {
  out[p] = p + "-" + require("./node_modules/" + p + "/package.json").version;
  if (!fs.existsSync("app/static/vendor/" + out[p])) {
    console.error("vendor-assets.sh: " + p + " is in package.json but not copied");
    process.exit(1);
  }
}
fs.writeFileSync("app/static/vendor/manifest.json", JSON.stringify(out, null, 2) + "\n");
'
echo "vendor assets: $(node -p 'Object.values(require("./app/static/vendor/manifest.json")).join(" ")')"
