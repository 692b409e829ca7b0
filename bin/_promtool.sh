# Sourced by tests/deploy/test_alert_rules.py (through bash) and by anyone who
# edits deploy/prometheus/: promtool checks and unit-tests the alert rules.
# Debian ships it in the prometheus package; install that once when promtool
# is missing and apt can (as root). Nothing here fails the caller: without
# promtool the rule tests are skipped and say why.
. bin/_apt.sh
apt_install_once promtool prometheus "the Prometheus alert rules' tests (promtool)"
