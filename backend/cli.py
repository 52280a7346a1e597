"""The `lsbert` command: serve (all in one), web, worker, simulate, bench, settings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from backend.errors import ConfigError
from backend.logs import configure_logging
from backend.settings import Settings
from backend.tools.bench_cli import add_bench_parser, run_bench
from backend.tools.simulate_cli import add_simulate_parser, run_simulate

DESCRIPTION = "BERT pre-annotations for Label Studio, learning from every correction."


class OneLineErrors(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def add_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; 0.0.0.0 for all)",
    )
    parser.add_argument("--port", type=int, default=9090, help="port to listen on (default: 9090)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="lsbert", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrors)
    serve = commands.add_parser(
        "serve",
        help="web server, one training worker and (without REDIS_URL) an embedded Redis",
        description="Run everything in one foreground command: the web server Label Studio "
        "connects to, one training worker, and an embedded Redis server unless REDIS_URL is "
        "set. Ctrl-C or SIGTERM stops them all. Settings come from the environment (README).",
    )
    add_address(serve)
    web = commands.add_parser(
        "web",
        help="only the web server (needs REDIS_URL)",
        description="Serve Label Studio's ML backend protocol (/health, /setup, /predict, "
        "/webhook, /metrics) with gunicorn. Training requests go to the Redis at REDIS_URL.",
    )
    add_address(web)
    worker = commands.add_parser(
        "worker",
        help="only a training worker (needs REDIS_URL)",
        description="Run training jobs from the Redis queue at REDIS_URL. Start several for "
        "several projects training at once.",
    )
    worker.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    worker.add_argument("--name", help="worker name shown in RQ (default: generated)")
    add_simulate_parser(commands)
    add_bench_parser(commands)
    settings = commands.add_parser(
        "settings",
        help="every setting: its value from the environment and its default",
        description="List every setting (LABEL_STUDIO_URL, REDIS_URL, TRAIN_EPOCHS, ...) with "
        "the value it has in this environment, secrets shown as ***, and its default. "
        "--markdown prints the table of docs/settings.md instead (with --essential, the one "
        "in README.md): regenerate the docs with it after changing a declaration.",
    )
    settings.add_argument(
        "--markdown", action="store_true", help="print the Markdown table the docs hold"
    )
    settings.add_argument(
        "--essential", action="store_true", help="only the settings most deployments set"
    )
    return parser


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "settings":
        if args.markdown:
            sys.stdout.write(Settings.markdown_table(args.essential))
        else:
            sys.stdout.write(settings.listing(args.essential))
        return 0
    if args.command == "simulate":
        return run_simulate(args, settings)
    if args.command == "bench":
        return run_bench(args, settings)
    if args.command == "serve":
        from backend.serve.supervisor import Supervisor

        return Supervisor(settings, args.host, args.port).run()
    if args.command == "web":
        from backend.web.server import run_web

        settings.require_redis("web")
        run_web(settings, args.host, args.port)
        return 0
    from backend.training.worker import run_worker

    run_worker(settings, burst=args.burst, name=args.name)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        return run(args, settings)
    except ConfigError as error:
        sys.stderr.write(f"lsbert {args.command}: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
