#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars (and log4j) into .cache/kafka-libs/ with Maven, so the
# test suite can start a real single-node KRaft broker with plain `java -cp` (no Docker).
# Idempotent: a stamp holding the pom's checksum short-circuits later runs without Maven.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
pom="$repo/scripts/kafka/pom.xml"
libs="${KLANTSIGNAAL_KAFKA_LIBS:-$repo/.cache/kafka-libs}"
stamp="$libs/.stamp"
want="$(sha256sum "$pom" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$libs/kafka_2.13-*.jar" >/dev/null; then
    echo "fetch-kafka: jars already present in $libs"
    exit 0
fi

command -v mvn >/dev/null || { echo "fetch-kafka: mvn not found (run scripts/install-test-deps.sh)" >&2; exit 1; }

# Copy into a sibling temp dir and swap it in, so an interrupted or concurrent run never
# leaves a half-filled libs dir behind a valid stamp.
mkdir -p "$(dirname "$libs")"
tmp="$(mktemp -d "$libs.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-kafka: resolving jars with Maven (first run downloads ~45 MB into ~/.m2)"
# Maven's output is only shown on failure (Maven 3.8 with -q still prints stray ANSI codes).
if ! mvn -B -Dstyle.color=never -f "$pom" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp/.maven.log" 2>&1; then
    cat "$tmp/.maven.log" >&2
    echo "fetch-kafka: Maven failed (see above)" >&2
    exit 1
fi
rm -f "$tmp/.maven.log"
echo "$want" >"$tmp/.stamp"
rm -rf "$libs"
mv "$tmp" "$libs"
trap - EXIT
echo "fetch-kafka: $(find "$libs" -name '*.jar' | wc -l) jars in $libs"
