#!/usr/bin/env bash
# Fetch the real Dutch texts for the sentiment evaluation into .cache/sentiment-data/
# (git-ignored; the texts are never committed). See docs/sentiment-realtext.md.
#
#   bash scripts/fetch-sentiment-data.sh   # XED Dutch (CC BY 4.0, ~200 kB), ecosent headlines
#                                           # (MIT, ~1 MB), DBRD book reviews (CC BY-NC-SA 4.0)
#   XED_GIT_DIR=… ECOSENT_GIT_DIR=… DBRD_GIT_DIR=… bash scripts/fetch-sentiment-data.sh
#                                           # the same from local clones/mirrors
#   DBRD_TGZ=/path/DBRD_v3.tgz bash scripts/fetch-sentiment-data.sh   # DBRD from its release
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

ECOSENT_REPO="https://github.com/vanatteveldt/ecosent"
ECOSENT_COMMIT="${ECOSENT_COMMIT:-9c4c6120af2ef4a08494c27a4d9e077b98402b51}"
ECOSENT_SHA256="70b77d07ff0296ff3b513561df92ac97745ab61d9f08ffa49a5b52c26a7fbdf2"
ECOSENT_FILE="$DEST/ecosent-sentences.csv"

fetch_ecosent() {
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  if [ -n "${ECOSENT_GIT_DIR:-}" ]; then
    git --git-dir="$ECOSENT_GIT_DIR" show "$ECOSENT_COMMIT:data/intermediate/sentences_ml.csv" \
      > "$tmp/e.csv"
  elif timeout 120 git clone --quiet "$ECOSENT_REPO" "$tmp/eco" 2>/dev/null; then
    git -C "$tmp/eco" show "$ECOSENT_COMMIT:data/intermediate/sentences_ml.csv" > "$tmp/e.csv"
  else
    echo "fetch-sentiment-data: cannot reach $ECOSENT_REPO; ecosent stays unavailable" >&2
    return 0
  fi
  if [ "$(sha256sum "$tmp/e.csv" | cut -d' ' -f1)" != "$ECOSENT_SHA256" ]; then
    echo "fetch-sentiment-data: WARNING: ecosent file differs from the documented one" >&2
  fi
  mv "$tmp/e.csv" "$ECOSENT_FILE"
  echo "fetch-sentiment-data: $ECOSENT_FILE ($(wc -l < "$ECOSENT_FILE") lines)"
}

# DBRD v3 (train + test splits) as committed in the first commit of a public repository that
# bundled the unpacked release (the files are byte-identical to the release's; the later
# commits of that repository removed them again).
DBRD_REPO="https://github.com/cassis163/hz-sentiment-dashboard"
DBRD_COMMIT="4733b211dca38ff3f1527f99b773f71d1b281ba8"

fetch_dbrd_git() {
  local tmp git_dir
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  if [ -n "${DBRD_GIT_DIR:-}" ]; then
    git_dir="$DBRD_GIT_DIR"
  elif timeout 600 git clone --quiet --bare --filter=blob:none "$DBRD_REPO" "$tmp/d.git" \
      2>/dev/null; then
    git_dir="$tmp/d.git"
  else
    echo "fetch-sentiment-data: cannot reach $DBRD_REPO; DBRD stays unavailable" >&2
    return 0
  fi
  git --git-dir="$git_dir" archive "$DBRD_COMMIT" data/DBRD/train data/DBRD/test \
    data/DBRD/LICENSE data/DBRD/README.md | tar -x -C "$tmp"
  rm -rf "$DEST/DBRD"
  mv "$tmp/data/DBRD" "$DEST/DBRD"
  echo "fetch-sentiment-data: DBRD in $DEST/DBRD ($(find "$DEST/DBRD" -name '*.txt' | wc -l) reviews)"
}

if [ -s "$ECOSENT_FILE" ]; then
  echo "fetch-sentiment-data: $ECOSENT_FILE already there"
else
  fetch_ecosent
fi

if [ -z "${DBRD_TGZ:-}" ]; then
  if [ -d "$DEST/DBRD/test" ]; then
    echo "fetch-sentiment-data: $DEST/DBRD already there"
  else
    fetch_dbrd_git
  fi
fi

if [ -n "${DBRD_TGZ:-}" ]; then
  # DBRD (CC BY-NC-SA 4.0) is distributed as a release archive; bring your own copy.
  tar -xzf "$DBRD_TGZ" -C "$DEST"
  [ -d "$DEST/DBRD" ] || { echo "fetch-sentiment-data: no DBRD/ folder in $DBRD_TGZ" >&2; exit 1; }
  echo "fetch-sentiment-data: DBRD unpacked in $DEST/DBRD"
fi
