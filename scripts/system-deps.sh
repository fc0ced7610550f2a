#!/usr/bin/env bash
# The Debian packages the tests use, installed when missing (called by `make test`).
#   mosquitto  the MQTT tests start their own broker on loopback (and mosquitto_passwd for auth)
#   openssl    the TLS tests make a throwaway CA and certificates
# As root it runs apt-get itself; otherwise through sudo (no password prompt without a terminal).
# Where it cannot install, it prints one line saying which command to run and exits 1.
set -uo pipefail

# mosquitto lives in /usr/sbin, which is not on a normal user's PATH on Debian.
# GRIDTAP_SBIN overrides the extra directories searched (the tests set it empty).
SBIN="${GRIDTAP_SBIN-/usr/sbin:/sbin}"

have() {
  PATH="$PATH${SBIN:+:$SBIN}" command -v "$1" >/dev/null 2>&1
}

missing() {
  local need=()
  { have mosquitto && have mosquitto_passwd; } || need+=(mosquitto)
  have openssl || need+=(openssl)
  echo "${need[@]}"
}

read -r -a need <<<"$(missing)"
[ ${#need[@]} -eq 0 ] && exit 0

hint="sudo apt-get install -y ${need[*]}"
fail() {
  echo "make test needs the Debian packages ${need[*]} ($1); run: $hint" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "no apt-get on this machine"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  # without a terminal sudo must not wait for a password nobody can type
  if [ -t 0 ]; then as_root=(sudo); else as_root=(sudo -n); fi
else
  fail "not root and no sudo"
fi

echo "installing Debian packages for the tests: ${need[*]}" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# a fresh machine may have no package lists yet, so update first
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 \
  || ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${need[@]}" >>"$log" 2>&1; then
  fail "apt-get failed: $(tail -n 1 "$log")"
fi

read -r -a still <<<"$(missing)"
[ ${#still[@]} -eq 0 ] || fail "still missing after apt-get install: ${still[*]}"
echo "installed ${need[*]}" >&2
