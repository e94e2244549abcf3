#!/usr/bin/env bash
# Resolves Apache Kafka's broker jars (org.apache.kafka:kafka_2.13 and its runtime dependencies)
# from Maven Central into a cache outside the repository, keyed by version, and prints the
# directory. Used by the test harness, `npm run cluster:up` and the demo (test/support/kafka.ts).
# Usage: tools/kafka/resolve.sh [version]   (default: KAFKA_VERSION or 4.1.1)
set -euo pipefail
version="${1:-${KAFKA_VERSION:-4.1.1}}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "kafka version must look like 4.1.1, got '$version'" >&2; exit 2; }
cache="${CELL_OPERATOR_CACHE:-$HOME/.cache/cell-operator}/kafka/$version"
if [[ -f "$cache/.complete" ]]; then echo "$cache"; exit 0; fi
command -v java >/dev/null || { echo "Java >= 17 is needed to run Kafka (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "Maven is needed to fetch Kafka's jars (apt-get install maven)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.cell-operator</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version></dependency>
    <!-- Kafka logs through slf4j 1.7; log4j2 (which it ships with) does the writing. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
echo "resolving Apache Kafka $version from Maven Central into $cache" >&2
mkdir -p "$cache.tmp"
mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$cache.tmp/libs" >&2
rm -rf "$cache"
mv "$cache.tmp" "$cache"
touch "$cache/.complete"
echo "$cache"
