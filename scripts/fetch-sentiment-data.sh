#!/usr/bin/env bash
# Fetch the real Dutch texts for the sentiment evaluation into .cache/sentiment-data/
# (git-ignored; the texts are never committed). See docs/sentiment-realtext.md.
#
#   bash scripts/fetch-sentiment-data.sh            # XED Dutch (CC BY 4.0), ~200 kB
#   DBRD_TGZ=/path/DBRD_v3.tgz bash scripts/fetch-sentiment-data.sh   # + DBRD, if you have it
#
# Where the machine has no internet access (CI here), the script says so and exits 0: the
# tests that need the data then skip, and `sentiment retrain` judges on gold only.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${KLANTSIGNAAL_SENTIMENT_DATA:-.cache/sentiment-data}"
mkdir -p "$DEST"

XED_REPO="https://github.com/Helsinki-NLP/XED"
# The commit and checksum of the file behind the figures in docs/sentiment.md.
XED_COMMIT="${XED_COMMIT:-76666d251f147cf518071bef4f8415dab6b96115}"
XED_SHA256="28d6346b07302a3f572b1b180299efef71def97a32e0c94ad31478a96225e7da"
XED_FILE="$DEST/xed-nl-projections.tsv"

fetch_xed() {
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  if [ -n "${XED_GIT_DIR:-}" ]; then
    # A local clone or bare mirror of the XED repository.
    git --git-dir="$XED_GIT_DIR" show "$XED_COMMIT:Projections/nl-projections.tsv" > "$tmp/x.tsv"
  elif timeout 60 git clone --quiet --depth 1 "$XED_REPO" "$tmp/xed" 2>/dev/null; then
    cp "$tmp/xed/Projections/nl-projections.tsv" "$tmp/x.tsv"
  else
    echo "fetch-sentiment-data: cannot reach $XED_REPO (no network?);" \
         "real-text evaluation stays unavailable" >&2
    return 0
  fi
  if [ "$(sha256sum "$tmp/x.tsv" | cut -d' ' -f1)" != "$XED_SHA256" ]; then
    echo "fetch-sentiment-data: WARNING: the file differs from the one behind the documented" \
         "figures (sha256 $XED_SHA256); figures will differ" >&2
  fi
  mv "$tmp/x.tsv" "$XED_FILE"
  echo "fetch-sentiment-data: $XED_FILE ($(wc -l < "$XED_FILE") lines)"
}

if [ -s "$XED_FILE" ]; then
  echo "fetch-sentiment-data: $XED_FILE already there"
else
  fetch_xed
fi

if [ -n "${DBRD_TGZ:-}" ]; then
  # DBRD (CC BY-NC-SA 4.0) is distributed as a release archive; bring your own copy.
  tar -xzf "$DBRD_TGZ" -C "$DEST"
  [ -d "$DEST/DBRD" ] || { echo "fetch-sentiment-data: no DBRD/ folder in $DBRD_TGZ" >&2; exit 1; }
  echo "fetch-sentiment-data: DBRD unpacked in $DEST/DBRD"
fi
