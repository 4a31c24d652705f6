#!/usr/bin/env bash
# Re-fetch the vendored Chart.js from the npm registry at the pinned version and check it.
#
# The dashboard serves Chart.js from our own origin (no CDN: municipal networks and the
# strict CSP forbid third-party origins). The file is committed under
# consumers/static/vendor/; tests/consumers/test_dashboard_vendor.py checks its sha256 against the pin
# below. To upgrade: change VERSION, run this script, put the printed sha256 in
# tests/consumers/test_dashboard_vendor.py (CHARTJS_SHA256) and check the browser test still passes.
set -euo pipefail
VERSION=4.5.1
HERE=$(cd "$(dirname "$0")/.." && pwd)
DEST=$HERE/consumers/static/vendor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
command -v npm >/dev/null || { echo "fetch-chartjs: npm is needed (apt-get install npm)" >&2; exit 1; }
(cd "$WORK" && npm pack "chart.js@$VERSION" --loglevel=error >/dev/null)
tar -xzf "$WORK/chart.js-$VERSION.tgz" -C "$WORK"  # npm pack verified the registry's integrity
cp "$WORK/package/dist/chart.umd.min.js" "$DEST/chart.umd.min.js"
cp "$WORK/package/LICENSE.md" "$DEST/chart.js-LICENSE.md"
echo "fetch-chartjs: Chart.js $VERSION in $DEST"
sha256sum "$DEST/chart.umd.min.js"
