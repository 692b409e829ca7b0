"""`manage.py check --deploy` is clean with the production environment the README documents."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_deploy_check_is_clean_with_the_documented_production_environment(tmp_path):
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "WEBHOOKS_", "URL_ALLOWED_", "API_RATE"))
    }
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="api.example.com",
        DATABASE_URL="postgres://outbound@db.example.com:5432/outbound",
        CELERY_BROKER_URL="redis://redis.example.com:6379/0",
        WAHA_BASE_URL="https://waha.example.com",
        WAHA_API_KEY="k",
        VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_a_debug_environment_is_not_fit_to_deploy(tmp_path):
    # The control: the check does find what production settings avoid.
    env = {**os.environ, "DJANGO_DEBUG": "1", "VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr  # DEBUG on
