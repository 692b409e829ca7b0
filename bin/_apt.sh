# Sourced by bin/_services.sh and bin/_haproxy.sh: apt_install_once COMMAND
# PACKAGE WHAT installs Debian's PACKAGE when COMMAND is missing and apt can
# (as root), refreshing the package lists once if the install fails; if it
# still fails it says what runs without WHAT. Nothing here fails the caller.
apt_install_once() {
  local command=$1 package=$2 what=$3 log="${TMPDIR:-/tmp}/$2-install.log"
  command -v "$command" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] || return 0
  echo "Installing $package for $what (apt-get install $package) ..." >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >"$log" 2>&1; then
    # The package lists may be stale or absent: refresh them once.
    { DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package"; } \
      >>"$log" 2>&1 \
      || echo "Could not install $package (see $log): $what will be skipped or run without it." >&2
  fi
  return 0
}
