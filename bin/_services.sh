# Sourced by bin/test and .ci/run: start PostgreSQL and Redis on 127.0.0.1
# when they are down and this machine has them installed (Debian packages).
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "Starting PostgreSQL ..." >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
fi
if command -v redis-cli >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Starting Redis ..." >&2
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/redis-outbound.log" || true
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
  fi
fi
# Browser tests (tests/e2e/test_admin_browser_e2e.py) drive Debian's Chromium
# with Playwright: install it once when it is missing and apt can (as root).
# Without it those tests skip and say why; nothing here fails the run.
. bin/_apt.sh
apt_install_once chromium chromium "the browser tests"
# The web tier's tests (tests/config/test_web_tier.py) run the Procfile's web
# process, HAProxy included; without it they skip and say why.
. bin/_haproxy.sh
