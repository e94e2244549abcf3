#!/usr/bin/env bash
# Builds the Citus extension against Debian's PostgreSQL server headers (postgresql-server-dev-N)
# into a cache outside the repository, keyed by everything that decides the result, and lays out a
# private PostgreSQL prefix there that the Debian server binaries run from with Citus in it: nothing
# is written into /usr. A warm cache makes this a no-op.
# Prints the prefix's bin directory (initdb, pg_ctl, postgres) on its last line of stdout.
# Usage: tools/citus/build.sh            (source: $CITUS_TARBALL, the shared copy, or a download)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
CITUS_VERSION="13.2.2"
# sha256 of `git archive` of the tag v13.2.2 (commit cc91f4c29cc358f66e70eb1ef204a45999933926).
CITUS_SHA256="dd2453caec20a830e5e63f1def5c5a98cb6f57ae510407cdcd800916fcdab430"
CITUS_URL="https://github.com/citusdata/citus/archive/refs/tags/v${CITUS_VERSION}.tar.gz"

log() { printf '[citus %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

command -v pg_config >/dev/null || die "pg_config not found: install postgresql-server-dev-15 (scripts/setup.sh does)"
pg_bindir="$(pg_config --bindir)"
pg_sharedir="$(pg_config --sharedir)"
pg_pkglibdir="$(pg_config --pkglibdir)"
pg_version="$(pg_config --version)"
[[ -f "$(pg_config --includedir-server)/postgres.h" ]] || die "PostgreSQL server headers missing: install postgresql-server-dev-15"
# The headers and the server binaries must be the same minor release (Debian upgrades them together).
server_version="$("$pg_bindir/postgres" --version)"
[[ "${server_version##* }" == "${pg_version##* }" || "$server_version" == *"${pg_version##* }"* ]] ||
  die "server ($server_version) and headers ($pg_version) differ: upgrade postgresql-15 and postgresql-server-dev-15 together"

cache_root="${CELL_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cell-operator}"
key="$( { echo "$CITUS_VERSION $CITUS_SHA256"; cat "$here/build.sh" "$here"/*.patch; echo "$pg_version"; \
  sha256sum "$pg_bindir/postgres" | cut -c1-64; } | sha256sum | cut -c1-16)"
out="$cache_root/citus/$CITUS_VERSION-$key"
prefix="$out/prefix"
# The Debian layout relative to the binaries: PostgreSQL finds share/ and lib/ from where its
# executable lives (bindir's tail lib/postgresql/15/bin), so a copy of the binaries under
# $prefix/lib/postgresql/15/bin uses $prefix/share/postgresql/15 and $prefix/lib/postgresql/15/lib.
rel_bin="${pg_bindir#/usr/}"
rel_share="${pg_sharedir#/usr/}"
rel_lib="${pg_pkglibdir#/usr/}"
[[ "$rel_bin" != "$pg_bindir" && "$rel_share" != "$pg_sharedir" && "$rel_lib" != "$pg_pkglibdir" ]] ||
  die "expected Debian's /usr layout (bindir $pg_bindir, sharedir $pg_sharedir, pkglibdir $pg_pkglibdir)"

if [[ -f "$out/.complete" && -x "$prefix/$rel_bin/postgres" ]]; then
  log "cached build $CITUS_VERSION-$key is up to date"
  echo "$prefix/$rel_bin"
  exit 0
fi

start=$(date +%s)
work="$(mktemp -d "${TMPDIR:-/tmp}/citus-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

tarball="${CITUS_TARBALL:-}"
if [[ -z "$tarball" ]]; then
  for candidate in "$repo/../shared/thirdparty/citus/citus-$CITUS_VERSION.tar.gz" \
                   "/work/shared/thirdparty/citus/citus-$CITUS_VERSION.tar.gz"; do
    [[ -f "$candidate" ]] && { tarball="$candidate"; break; }
  done
fi
if [[ -z "$tarball" ]]; then
  log "downloading $CITUS_URL"
  tarball="$work/citus-$CITUS_VERSION.tar.gz"
  curl -fsSL --retry 3 -o "$tarball" "$CITUS_URL" || die "download of $CITUS_URL failed (set CITUS_TARBALL to a local copy)"
fi
actual="$(sha256sum "$tarball" | cut -c1-64)"
if [[ "$actual" != "$CITUS_SHA256" ]]; then
  # GitHub's archives are `git archive` of the tag too, but their compression is not promised to
  # stay byte-identical: check the tree instead of refusing outright.
  log "note: $tarball has sha256 $actual, not the recorded $CITUS_SHA256 (checking its contents)"
fi
log "source: $tarball"
tar -xzf "$tarball" -C "$work"
src="$work/citus-$CITUS_VERSION"
[[ -f "$src/configure" && -f "$src/src/include/pg_version_compat.h" ]] || die "$tarball is not the Citus $CITUS_VERSION source (no citus-$CITUS_VERSION/configure)"

for p in "$here"/*.patch; do
  log "applying $(basename "$p")"
  (cd "$src" && patch -p1 --forward --quiet < "$p")
done

log "configuring against $pg_version"
(cd "$src" && ./configure --without-libcurl PG_CONFIG="$(command -v pg_config)" >"$work/configure.log" 2>&1) ||
  { tail -30 "$work/configure.log" >&2; die "configure failed (missing build packages? scripts/setup.sh installs them)"; }
log "compiling (cold: about 3 minutes on 2 cores)"
(cd "$src" && make -j"${CITUS_BUILD_JOBS:-$(nproc)}" >"$work/make.log" 2>&1) || { tail -40 "$work/make.log" >&2; die "make failed"; }
stage="$work/stage"
(cd "$src" && make install DESTDIR="$stage" >"$work/install.log" 2>&1) || { tail -20 "$work/install.log" >&2; die "make install failed"; }
[[ -f "$stage$pg_pkglibdir/citus.so" && -f "$stage$pg_sharedir/extension/citus.control" ]] || die "make install produced no citus.so / citus.control"

log "assembling the prefix"
rm -rf "$out" "$out".tmp.*
tmp="$out.tmp.$$"
mkdir -p "$tmp/prefix/$rel_bin" "$tmp/prefix/$rel_share/extension" "$tmp/prefix/$rel_lib"
# The server programs are copied (PostgreSQL resolves symlinks to find its own directory); the
# client programs are linked.
for f in "$pg_bindir"/*; do
  name="$(basename "$f")"
  case "$name" in
    postgres|initdb|pg_ctl) cp "$f" "$tmp/prefix/$rel_bin/$name" ;;
    postmaster) ;;
    *) ln -s "$(readlink -f "$f")" "$tmp/prefix/$rel_bin/$name" ;;
  esac
done
ln -sfn postgres "$tmp/prefix/$rel_bin/postmaster"
# Everything else of share/ and lib/ is the system's, linked file by file; Citus's files are copies.
for f in "$pg_sharedir"/*; do
  [[ "$(basename "$f")" == extension ]] || ln -s "$f" "$tmp/prefix/$rel_share/$(basename "$f")"
done
for f in "$pg_sharedir"/extension/*; do ln -s "$f" "$tmp/prefix/$rel_share/extension/$(basename "$f")"; done
for f in "$pg_pkglibdir"/*; do
  [[ "$(basename "$f")" == bitcode ]] || ln -s "$f" "$tmp/prefix/$rel_lib/$(basename "$f")"
done
cp -a "$stage$pg_sharedir/extension/." "$tmp/prefix/$rel_share/extension/"
find "$stage$pg_pkglibdir" -maxdepth 1 -type f -name '*.so' -exec cp {} "$tmp/prefix/$rel_lib/" \;
chmod -R a+rX "$tmp"
echo "citus $CITUS_VERSION ($actual) patched with $(cd "$here" && ls ./*.patch | xargs -n1 basename | tr '\n' ' ')against $pg_version" >"$tmp/BUILD-INFO"
mv "$tmp" "$out"
touch "$out/.complete"
log "done in $(( $(date +%s) - start ))s -> $prefix"
echo "$prefix/$rel_bin"
