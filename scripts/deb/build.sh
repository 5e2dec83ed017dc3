#!/usr/bin/env bash
# make deb: build dist/ccbox_<version>_<arch>.deb, a Debian package of ccbox for a plain
# Debian 12 box: a private virtual environment at /opt/ccbox made by Debian's python3 (so its
# pyvenv.cfg's home is /usr/bin) holding ccbox, its compiled Cython extensions and the pinned
# dependencies; /usr/bin/ccbox and ccboxd; the systemd unit, sysusers and tmpfiles entries;
# a default /etc/ccbox/ccbox.conf (a conffile); the web UI's browser libraries; the system
# sounds; the docs. docs/operations.md ("Install on a box") says what installing it does.
#
#   scripts/deb/build.sh [--out DIR] [--python PYTHON] [--fast] [--lintian]
#
# --python runs pip (the checkout's .venv); the package's own interpreter is always
# /usr/bin/python3. --fast: gzip -1 instead of xz -1 (the test). --lintian: lintian after.
# Cheap to repeat: the dependencies' wheels are kept in build/deb/wheels (collected again
# only when constraints.txt or ccbox's requirements change), and the Cython extensions are
# those `make deps` compiled in place when safe to reuse (below), else compiled once by
# Debian's python3 and kept in build/deb/ext for the same sources.
set -euo pipefail
# The package's modes come from the staged tree: a builder's umask of 027 or 077 would ship
# /opt/ccbox unreadable to ccboxd (User=ccbox). Modes that differ are set explicitly.
umask 022

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=dist
BUILD_PY=${BUILD_PY:-.venv/bin/python}
COMPRESS=(-Zxz -z1)
LINTIAN=no
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --python) BUILD_PY=$2; shift 2 ;;
    --fast) COMPRESS=(-Zgzip -z1); shift ;;
    --lintian) LINTIAN=yes; shift ;;
    *) echo "usage: $0 [--out DIR] [--python PYTHON] [--fast] [--lintian]" >&2; exit 2 ;;
  esac
done
TARGET_PY=/usr/bin/python3
PREFIX=/opt/ccbox
DEB=scripts/deb
WORK=build/deb
STAGE=$ROOT/$WORK/root      # the package's file tree: $STAGE/opt/ccbox is /opt/ccbox
WHEELS=$WORK/wheels
say() { echo "deb: [${SECONDS}s] $*"; }

[ -x "$TARGET_PY" ] || { echo "deb: $TARGET_PY missing (scripts/system-deps.sh)" >&2; exit 1; }
"$TARGET_PY" -c 'import sys, ensurepip; assert sys.version_info >= (3, 11)' \
  || { echo "deb: $TARGET_PY must be >= 3.11 with venv (python3-venv)" >&2; exit 1; }
for f in webui/node_modules/echarts/dist/echarts.min.js webui/node_modules/quill/dist/quill.js \
  webui/node_modules/rrweb/dist/rrweb.umd.min.cjs \
  webui/node_modules/@rrweb/record/dist/record.umd.min.cjs; do
  [ -f "$f" ] || { echo "deb: $f missing: run make deps (npm ci in webui/)" >&2; exit 1; }
done

VERSION=$(CCBOX_NO_CYTHON=1 "$BUILD_PY" setup.py --version 2>/dev/null | tail -1)
DEB_VERSION=${VERSION}-1
ARCH=$(dpkg --print-architecture)
# Reproducible: every mtime, the changelog's date and the archive's members from one time,
# the last commit's (or the caller's SOURCE_DATE_EPOCH).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# ---- wheels: ccbox itself (always fresh), then its dependencies (kept) --------------------
mkdir -p "$WHEELS" "$OUT"
# The Cython extensions: the in-place builds of `make deps` when that is safe (newer than
# their .pyx, and linked for any CPython 3.11: no RUNPATH into another Python's tree, no
# libpython), else compiled by Debian's python3 in build/deb/buildenv (Cython from PyPI,
# pinned by constraints.txt), and kept there for the next build of the same sources.
ext_suffix=$("$TARGET_PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
mapfile -t PYX < <(find appliance drivers acd ivr recorder -name '*.pyx' | LC_ALL=C sort)
reuse=yes
for pyx in "${PYX[@]}"; do
  so=${pyx%.pyx}$ext_suffix
  if ! [ -f "$so" ] || ! [ "$so" -nt "$pyx" ] \
    || readelf -d "$so" | grep -E 'RPATH|RUNPATH|NEEDED.*libpython' >/dev/null; then
    reuse=no
  fi
done
EXT=$WORK/ext
rm -rf "$WORK/ccbox-wheel"
if [ $reuse = yes ]; then
  say "reusing the compiled extensions (${#PYX[@]}: newer than their .pyx, no RUNPATH)"
  rm -rf "$EXT" && mkdir -p "$EXT"
  for pyx in "${PYX[@]}"; do
    install -D -m 0644 "${pyx%.pyx}$ext_suffix" "$EXT/${pyx%.pyx}$ext_suffix"
  done
else
  ext_key=$( (cat "${PYX[@]}" setup.py; grep -i '^cython==' constraints.txt; "$TARGET_PY" -V) \
    | sha256sum | cut -c1-16)
  if [ "$(cat "$EXT/.key" 2>/dev/null)" != "$ext_key" ]; then
    say "compiling the Cython extensions with $TARGET_PY"
    if ! [ -x "$WORK/buildenv/bin/python" ]; then
      "$TARGET_PY" -m venv "$WORK/buildenv"
      "$WORK/buildenv/bin/python" -m pip install -q -c constraints.txt Cython setuptools wheel
    fi
    rm -rf "$EXT" "$WORK/ext-src" && mkdir -p "$EXT" "$WORK/ext-src"
    # A copy of the sources, so the checkout's in-place builds are left alone.
    tar -c setup.py "${PYX[@]}" | tar -x -C "$WORK/ext-src"
    (cd "$WORK/ext-src" && "$ROOT/$WORK/buildenv/bin/python" setup.py -q build_ext --inplace \
      >/dev/null)
    for pyx in "${PYX[@]}"; do
      install -D -m 0644 "$WORK/ext-src/${pyx%.pyx}$ext_suffix" "$EXT/${pyx%.pyx}$ext_suffix"
    done
    echo "$ext_key" >"$EXT/.key"
  else
    say "reusing the extensions compiled for the same sources in $EXT"
  fi
fi
# setuptools copies the modules into build/lib and never removes one deleted since: without
# this, a module gone from the tree would still ship.
rm -rf build/lib build/bdist.*
CCBOX_NO_CYTHON=1 "$BUILD_PY" -m pip wheel -q --no-deps --no-build-isolation \
  -w "$WORK/ccbox-wheel" .
CCBOX_WHEEL=$(ls "$WORK"/ccbox-wheel/ccbox-*.whl)
# The dependencies' wheels, collected again only when the pins or the requirements change.
requires=$("$BUILD_PY" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
print("\n".join(x for x in z.read(meta).decode().splitlines() if x.startswith("Requires-Dist")))
' "$CCBOX_WHEEL")
key=$(printf '%s\n%s\n' "$(cat constraints.txt)" "$requires" | sha256sum | cut -c1-16)
if [ "$(cat "$WHEELS/.key" 2>/dev/null)" != "$key" ]; then
  say "collecting the dependencies' wheels in $WHEELS"
  rm -f "$WHEELS"/*.whl
  "$BUILD_PY" -m pip wheel -q -c constraints.txt -w "$WHEELS" "$CCBOX_WHEEL"
  rm -f "$WHEELS"/ccbox-*.whl
  echo "$key" >"$WHEELS/.key"
fi

say "the virtual environment"
# ---- the virtual environment, made where it will live ------------------------------------
rm -rf "$STAGE"
mkdir -p "$STAGE$PREFIX"
VENV=$STAGE$PREFIX
"$TARGET_PY" -m venv --without-pip "$VENV"
"$BUILD_PY" -m pip --python "$VENV/bin/python3" install -q --no-compile --no-index \
  --no-warn-script-location --find-links "$WHEELS" -c constraints.txt "$CCBOX_WHEEL"
# The staged interpreter runs isolated (-I: not the checkout's modules from the current
# folder, no PYTHON* variables) and writes no byte code there (-B: compileall's, below).
VPY=("$VENV/bin/python3" -I -B)
SITE=$("${VPY[@]}" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
for pyx in "${PYX[@]}"; do
  install -m 0644 "$EXT/${pyx%.pyx}$ext_suffix" "$SITE/${pyx%.pyx}$ext_suffix"
done
# The extensions must load under Debian's python3 (the ABI check of the reuse above).
"${VPY[@]}" -c \
  'import drivers.audio._g711_c, recorder._dsp_c, drivers.asterisk.ami._scan_c, acd._route_c'
# Nothing of the build tree stays: scripts' shebangs, pyvenv.cfg, pip's records of where
# the wheels came from. activate* name the staging path and nobody needs them here.
rm -f "$VENV"/bin/activate* "$VENV"/bin/Activate.ps1
find "$SITE" -name direct_url.json -delete
find "$SITE" -name RECORD -path '*.dist-info/*' -exec sed -i '/direct_url.json/d' {} +
grep -rlI --null "$VENV" "$VENV/bin" | xargs -0 -r sed -i "s|$VENV|$PREFIX|g"
sed -i "s|$VENV|$PREFIX|g" "$VENV/pyvenv.cfg"
# Stripped shared objects (the wheels' own are; the Cython ones carry debug info).
for pyx in "${PYX[@]}"; do strip --strip-unneeded "$SITE/${pyx%.pyx}$ext_suffix"; done
# No file in site-packages is run directly (the .so and the modules with a "#!" line are
# imported); version-control leftovers of the wheels go.
find "$SITE" -type f -perm /111 -exec chmod 0644 {} +
find "$SITE" -name .gitignore -delete

say "the rest of the tree"
# ---- the rest of the tree -----------------------------------------------------------------
install -d "$STAGE/usr/bin"
ln -s "$PREFIX/bin/ccbox" "$STAGE/usr/bin/ccbox"
ln -s "$PREFIX/bin/ccboxd" "$STAGE/usr/bin/ccboxd"
install -D -m 0644 systemd/ccboxd.service "$STAGE/lib/systemd/system/ccboxd.service"
install -D -m 0644 systemd/ccbox.sysusers "$STAGE/usr/lib/sysusers.d/ccbox.conf"
install -D -m 0644 systemd/ccbox.tmpfiles "$STAGE/usr/lib/tmpfiles.d/ccbox.conf"
install -d -m 0755 "$STAGE/etc/ccbox"
"${VPY[@]}" -m appliance.cli config sample --data-dir /var/lib/ccbox \
  >"$STAGE/etc/ccbox/ccbox.conf"
# 0640: the file will hold the AMI secret and maybe a database password; postinst gives
# it to the group ccbox (which does not exist when dpkg unpacks it).
chmod 0640 "$STAGE/etc/ccbox/ccbox.conf"
# The ccbox-* system sounds, spoken by espeak-ng now (the copy into Asterisk's sounds
# folder is the installer's: docs/operations.md).
"${VPY[@]}" -c '
import sys
from pathlib import Path
from ivr import system_sounds
system_sounds.install_system_sounds(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
' "$STAGE/usr/share/ccbox/sounds" "$WORK/sounds-cache"
chmod -R u=rwX,go=rX "$STAGE/usr/share/ccbox"
DOC=$STAGE/usr/share/doc/ccbox
install -d "$DOC"
install -m 0644 docs/*.md "$DOC/"
install -m 0644 "$DEB/copyright" "$DOC/copyright"
install -D -m 0644 webui/node_modules/echarts/LICENSE "$DOC/licenses/echarts-LICENSE"
install -D -m 0644 webui/node_modules/quill/LICENSE "$DOC/licenses/quill-LICENSE"
gzip -9n <CHANGELOG.md >"$DOC/changelog.gz"
sed -e "s/@VERSION@/$DEB_VERSION/" \
  -e "s/@DATE@/$(date -u -R -d "@$SOURCE_DATE_EPOCH")/" "$DEB/changelog.in" \
  | gzip -9n >"$DOC/changelog.Debian.gz"
install -D -m 0644 "$DEB/lintian-overrides" "$STAGE/usr/share/lintian/overrides/ccbox"

# Byte-compiled once here, by the interpreter that runs it, with the installed paths in it:
# the tree is root's and read-only to ccboxd, so Python could not cache them at run time.
# unchecked-hash: dpkg replaces a .py and its .pyc together; no mtimes in them.
say "byte-compiling"
"$TARGET_PY" -m compileall -q -f -j0 --invalidation-mode unchecked-hash \
  -s "$STAGE" -p / "$VENV/lib" >/dev/null

say "control files"
# ---- control ------------------------------------------------------------------------------
# Depends: the system libraries the compiled code links against, with the least versions
# their symbols need (dpkg-shlibdeps reads every ELF object like ldd; the wheels' bundled
# libraries resolve inside the venv through their RPATH and are left out), plus PortAudio,
# which sounddevice loads with ctypes by name (no link, so no tool can see it).
mkdir -p "$WORK/shlibs/debian"
printf 'Source: ccbox\n\nPackage: ccbox\nArchitecture: any\n' >"$WORK/shlibs/debian/control"
mapfile -t elf < <(find "$VENV" -name '*.so*' -type f | LC_ALL=C sort)
mapfile -t private < <(printf -- '-l%s\n' "${elf[@]%/*}" | LC_ALL=C sort -u)
(cd "$WORK/shlibs" && dpkg-shlibdeps -O --ignore-missing-info "${private[@]}" -S"$STAGE" \
  "${elf[@]}" >out 2>log) || { grep -v warning: "$WORK/shlibs/log" >&2; exit 1; }
shlibs=$(sed -n 's/^shlibs:Depends=//p' "$WORK/shlibs/out")
[ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# The venv is made for this minor version (lib/python3.11, cpython-311 objects): a newer
# Debian python3 needs a package rebuilt with it.
pyver=$("$TARGET_PY" -c 'import sys; v = sys.version_info; print(f"{v[0]}.{v[1]} {v[0]}.{v[1] + 1}")')
depends="python3 (>= ${pyver% *}), python3 (<< ${pyver#* }), $shlibs, libportaudio2"
depends="$depends, systemd | systemd-sysusers, systemd | systemd-tmpfiles"
depends="$depends, init-system-helpers (>= 1.54~)"
install -d -m 0755 "$STAGE/DEBIAN"
sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$depends/" \
  -e "s/@SIZE@/$(du -sk --apparent-size --exclude=DEBIAN "$STAGE" | cut -f1)/" \
  "$DEB/control.in" >"$STAGE/DEBIAN/control"
echo /etc/ccbox/ccbox.conf >"$STAGE/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$DEB/$s" "$STAGE/DEBIAN/$s"; done
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print0 | LC_ALL=C sort -z \
  | xargs -0 md5sum | sed 's|  \./|  |') >"$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums" "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/conffiles"

find "$STAGE" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0 touch -h -d "@$SOURCE_DATE_EPOCH"
PKG=$OUT/ccbox_${DEB_VERSION}_$ARCH.deb
# xz -1: 78 MB in about 20 s of one core (xz -6: 65 MB in minutes); --fast (the test): gzip -1,
# 108 MB in 4 s. Not zstd: lintian and dpkg before Debian 12 refuse it.
dpkg-deb --root-owner-group "${COMPRESS[@]}" --build "$STAGE" "$PKG" >/dev/null
say "built $PKG ($(du -h "$PKG" | cut -f1))"
if [ $LINTIAN = yes ]; then
  say "lintian (overrides with their reasons: $DEB/lintian-overrides)"
  lintian --fail-on error,warning "$PKG"
fi
