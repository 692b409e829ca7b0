"""Run the project's fake WAHA gateway, e.g. for the zero-setup local run:

    python manage.py run_fake_gateway --port 3000 --error-rate 0.1 --seed 7

With --webhook-url it calls back like WAHA: message.ack webhooks after each
accepted send and session.status when a session's status is changed.
"""

from django.core.management.base import BaseCommand, CommandError

from outbound.fake_gateway import ConfigError, serve_forever


def session_status(value):
    name, sep, status = value.partition("=")
    if not sep or not name or not status:
        raise ValueError(value)
    return name, status


class Command(BaseCommand):
    help = "Run the fake WAHA-compatible WhatsApp gateway until SIGINT/SIGTERM."
    # The gateway touches no database or app model; checks would only slow startup.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=3000)
        parser.add_argument("--api-key", default=None, help="Require this X-Api-Key (default: no auth).")
        parser.add_argument("--error-rate", type=float, default=0.0, help="Share of sends answering 500, unrecorded.")
        parser.add_argument(
            "--accept-then-fail-rate",
            type=float,
            default=0.0,
            help="Share of sends recorded and then answering 500 anyway (the ambiguous case).",
        )
        parser.add_argument("--timeout-rate", type=float, default=0.0, help="Share of sends that hang, then 504.")
        parser.add_argument("--hang-ms", type=float, default=30000, help="How long a hanging send hangs.")
        parser.add_argument("--latency-ms", type=float, default=0, help="Delay before answering each send.")
        parser.add_argument("--seed", type=int, default=None, help="Seed fault draws for repeatable runs.")
        parser.add_argument(
            "--session",
            dest="sessions",
            action="append",
            type=session_status,
            default=[],
            metavar="NAME=STATUS",
            help="Preset a session status (repeatable); unlisted sessions are WORKING.",
        )
        parser.add_argument(
            "--webhook-url", default=None, help="POST WAHA-style webhooks here (default: no callbacks)."
        )
        parser.add_argument(
            "--webhook-hmac-key", default=None, help="Sign webhooks with HMAC-SHA512 like WAHA (default: unsigned)."
        )
        parser.add_argument(
            "--ack-delay-ms",
            type=int,
            default=200,
            help="Delay between the SERVER, DEVICE and READ acks of each accepted send.",
        )
        parser.add_argument(
            "--verbose", action="store_true", help="Log every request, and every failed webhook, to stderr."
        )

    def announce(self, line):
        # Flushed at once: scripts that start the gateway wait for this line on a pipe.
        self.stdout.write(line)
        self.stdout.flush()

    def handle(self, *args, **options):
        try:
            serve_forever(
                options["host"],
                options["port"],
                verbose=options["verbose"],
                announce=self.announce,
                api_key=options["api_key"],
                sessions=dict(options["sessions"]),
                error_rate=options["error_rate"],
                accept_then_fail_rate=options["accept_then_fail_rate"],
                timeout_rate=options["timeout_rate"],
                hang_ms=options["hang_ms"],
                latency_ms=options["latency_ms"],
                seed=options["seed"],
                webhook_url=options["webhook_url"],
                webhook_hmac_key=options["webhook_hmac_key"],
                ack_delay_ms=options["ack_delay_ms"],
            )
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:  # e.g. the port is taken
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {exc}") from None
