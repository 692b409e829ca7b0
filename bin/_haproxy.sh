# Sourced by bin/start, bin/_services.sh, bin/bench and bin/fuzz: the web process (bin/web) puts
# HAProxy in front of gunicorn. Install Debian's haproxy once when it is
# missing and apt can (as root); otherwise bin/web serves with gunicorn alone
# and says the slow-client guard is off. Nothing here fails the caller.
. bin/_apt.sh
apt_install_once haproxy haproxy "the web process's slow-client guard (HAProxy)"
