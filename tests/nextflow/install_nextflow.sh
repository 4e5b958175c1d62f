#!/usr/bin/env bash
# Resolve Nextflow (tests/nextflow/pom.xml) from Maven Central into the cache folder that
# tests/nextflow/nextflow runs it from: $CRYOLIKE_NEXTFLOW_CACHE (default ~/.cache/cryolike_hydra/nextflow)
# /<version>/lib. Needs Java >= 17 and Maven. Idempotent: does nothing when that version is there.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(sed -n 's:.*<nextflow.version>\(.*\)</nextflow.version>.*:\1:p' "$here/pom.xml")
cache=${CRYOLIKE_NEXTFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cryolike_hydra/nextflow}/$version
if [ -f "$cache/lib/nextflow-$version.jar" ]; then
    exit 0
fi
mkdir -p "$cache"
partial=$(mktemp -d "$cache/lib.partial.XXXXXX")
trap 'rm -rf "$partial"' EXIT
echo "install_nextflow: mvn dependency:copy-dependencies (Nextflow $version) -> $cache/lib"
mvn --batch-mode --quiet -Dstyle.color=never --file "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$partial" -DincludeScope=runtime
rm -rf "$cache/lib"
mv "$partial" "$cache/lib"
trap - EXIT
"$here/nextflow" -version | sed -n 's/^ *version/install_nextflow: Nextflow/p'
