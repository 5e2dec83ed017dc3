#!/usr/bin/env bash
# Install the Debian packages ccbox needs to build, test and run its demo.
# Idempotent and quiet when everything is there: it asks dpkg first and runs apt only for
# what is missing. Needs root (or sudo) only when something has to be installed.
set -euo pipefail

PACKAGES=(
  python3 python3-venv python3-dev build-essential   # the venv and the Cython build
  postgresql                                          # the second database the tests run on
  libportaudio2                                       # sounddevice: the box's own sound card
  espeak-ng                                           # TTS prompts, Chinese and English
  gettext                                             # msgfmt for checking catalogs by hand
  curl                                                # the README's health checks
  tzdata                                              # zone files: calling windows in the callee's zone
)

# --browser: also what browser tests and screenshots need (Debian's Chromium and its driver).
flags=" $* "
if [[ $flags == *" --browser "* ]]; then
  PACKAGES+=(chromium chromium-driver fonts-noto-cjk)
fi
# --deb: also what make deb and its test need (dpkg-shlibdeps for the Depends line).
if [[ $flags == *" --deb "* ]]; then
  PACKAGES+=(dpkg-dev)
fi
# --lintian: the package's checker, for make deb only (the test does not run it: about 60 s).
if [[ $flags == *" --lintian "* ]]; then
  PACKAGES+=(lintian)
fi
# --mail: the real IMAP server the e-mail tests start on a loopback port of their own, in a
# temporary folder (tests/support/dovecot.py); the system's dovecot service is never used.
if [[ $flags == *" --mail "* ]]; then
  PACKAGES+=(dovecot-imapd)
fi
# --bench: also the outside tools benchmarks compare against (sox for the stereo merge).
if [[ $flags == *" --bench "* ]]; then
  PACKAGES+=(sox)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm installs the web UI's charting library (webui/package.json); asked by command, since
# a NodeSource node ships its own npm and Debian's npm package would conflict with it
command -v npm >/dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "system-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "system-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
