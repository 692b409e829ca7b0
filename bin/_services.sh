# Sourced by bin/test and .ci/run: make sure PostgreSQL and Redis answer where
# the tests look for them (TEST_DATABASE_URL, TEST_CELERY_BROKER_URL; by default
# 127.0.0.1:5432 and 127.0.0.1:6379). Three ways, fastest first:
#  1. they answer already (this machine's services): nothing to do;
#  2. on the default ports, installed here but down (Debian packages): start them;
#  3. still nothing on 127.0.0.1: start servers shipped as PyPI wheels
#     (requirements-embedded.txt, bin/_embedded_services.py) on those ports.
# Remote hosts are left alone.
read -r _pg_host _pg_port _redis_host _redis_port < <(python - <<'PY'
import os
from urllib.parse import urlsplit
db = urlsplit(os.environ.get("TEST_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/outbound")
broker = urlsplit(os.environ.get("TEST_CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15")
print(db.hostname or "127.0.0.1", db.port or 5432, broker.hostname or "127.0.0.1", broker.port or 6379)
PY
)
_answering() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
_local() { [ "$1" = 127.0.0.1 ] || [ "$1" = localhost ]; }

if _local "$_pg_host" && [ "$_pg_port" = 5432 ] && ! _answering 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "Starting PostgreSQL ..." >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 30); do _answering 5432 && break; sleep 1; done
  fi
fi
if _local "$_redis_host" && [ "$_redis_port" = 6379 ] && ! _answering 6379; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Starting Redis ..." >&2
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/redis-outbound.log" || true
    for _ in $(seq 30); do _answering 6379 && break; sleep 1; done
  fi
fi
_embedded=""
if _local "$_pg_host" && ! _answering "$_pg_port"; then _embedded="$_embedded --postgres $_pg_port"; fi
if _local "$_redis_host" && ! _answering "$_redis_port"; then _embedded="$_embedded --redis $_redis_port"; fi
if [ -n "$_embedded" ]; then
  # shellcheck disable=SC2086 # two options and their ports
  python bin/_embedded_services.py $_embedded
fi
# Browser tests (tests/e2e/test_admin_browser_e2e.py) drive Debian's Chromium
# with Playwright: install it once when it is missing and apt can (as root).
# Without it those tests skip and say why; nothing here fails the run.
. bin/_apt.sh
apt_install_once chromium chromium "the browser tests"
# The web tier's tests (tests/config/test_web_tier.py) run the Procfile's web
# process, HAProxy included; without it they skip and say why.
. bin/_haproxy.sh
