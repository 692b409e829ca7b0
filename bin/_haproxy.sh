# Sourced by bin/start and bin/_services.sh: the web process (bin/web) puts
# HAProxy in front of gunicorn. Install Debian's haproxy once when it is
# missing and apt can (as root); otherwise bin/web serves with gunicorn alone
# and says the slow-client guard is off. Nothing here fails the caller.
if ! command -v haproxy >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing HAProxy for the web process (apt-get install haproxy) ..." >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >"${TMPDIR:-/tmp}/haproxy-install.log" 2>&1; then
    # The package lists may be stale or absent: refresh them once.
    { DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy; } \
      >>"${TMPDIR:-/tmp}/haproxy-install.log" 2>&1 \
      || echo "Could not install HAProxy (see ${TMPDIR:-/tmp}/haproxy-install.log): the web process runs without it." >&2
  fi
fi
