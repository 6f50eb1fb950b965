"""`lake install|up|down|status|logs|deploy|airflow`: the local stack's processes and their state, and the
stack rendered for other hosts (`lake deploy render`)."""

from __future__ import annotations

import argparse
import sys
import time

from lakehouse.cli.output import FORMAT, format_rows
from lakehouse.core.errors import LakeError


def cmd_install(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.io.install import install_all
    install_all(get_settings())


def add_install(sub, today: str) -> None:
    p = sub.add_parser("install", help="build/fetch weed, Trino and the Spark jars into the cache (idempotent)")
    p.set_defaults(func=cmd_install)


def cmd_up(args: argparse.Namespace) -> None:
    from lakehouse import services
    from lakehouse.core.settings import get_settings
    from lakehouse.io.install import install_all

    settings = get_settings()
    if not args.no_install:
        install_all(settings)
    started = time.monotonic()
    services.up(args.services, settings)
    print(f"[lake] stack up in {time.monotonic() - started:.0f}s")
    if not args.services or "airflow" in args.services or "airflow-api-server" in args.services:
        print(f"[lake] Airflow UI: http://{settings.host_of('airflow')}:{settings.env.services.airflow.port}  "
              f"user: admin  password: {settings.secrets['airflow_admin_password']}")
    print(f"[lake] Trino: {settings.trino_url}  catalog: {settings.trino_catalog}  "
          f"certificate: {settings.trino_cert}")
    print("[lake] Trino users and their generated passwords: `lake users`")
    if not args.services or "sharing" in args.services:
        from lakehouse.serving.sharing import endpoint
        print(f"[lake] Delta Sharing for partners: {endpoint(settings)}  (a partner's profile file: "
              "`lake sharing token PARTNER`)")
    if not args.services or "portal" in args.services:
        print(f"[lake] data portal: http://{settings.host_of('portal')}:{settings.env.services.portal.port}/  "
              "(its facts: `lake catalog`)")


def add_up(sub, today: str) -> None:
    p = sub.add_parser("up", help="install if needed, then start S3, Trino and Airflow (a no-op when running)")
    p.add_argument("services", nargs="*", help="only these services or groups: s3, spark, events, trino, postgres, airflow, sharing, portal")
    p.set_defaults(trailing="services")
    p.add_argument("--no-install", action="store_true", help="skip the install check")
    p.set_defaults(func=cmd_up)


def cmd_down(args: argparse.Namespace) -> None:
    from lakehouse import services
    from lakehouse.core.settings import get_settings
    services.down(args.services, get_settings())


def add_down(sub, today: str) -> None:
    p = sub.add_parser("down", help="stop the services lake started (and nothing else)")
    p.add_argument("services", nargs="*", help="only these services or groups")
    p.set_defaults(trailing="services")
    p.set_defaults(func=cmd_down)


def cmd_status(args: argparse.Namespace) -> None:
    from lakehouse import services
    from lakehouse.core.settings import get_settings
    from lakehouse.orchestration import airflow_env
    settings = get_settings()
    if not args.dags:
        rows = services.status(settings)
        columns = ["service", "state", "pid", "rss_mb", "url"]
        print(format_rows(columns, [[r[c] for c in columns] for r in rows], args.format))
        if args.format == "table":
            total = sum(r["rss_mb"] for r in rows if r["rss_mb"] != "")
            print(f"memory in use by the stack: {total:,} MB")
        if args.format != "table":
            return  # one document per call: `--dags` prints the DAG runs as CSV or JSON
        print()
    runs = airflow_env.last_runs(settings)
    if runs is None:
        message = (f"Airflow is not running ({airflow_env.api_url(settings)} does not answer), so there are no DAG "
                   "runs to show; start it with `lake up airflow`.")
        if args.dags:
            raise LakeError(message)
        print(message)
        return
    columns = ["dag", "paused", "state", "logical_date", "run_type", "end_date"]
    if args.format == "table":
        print("last run of each DAG:")
    print(format_rows(columns, [[r[c] for c in columns] for r in runs], args.format))


def add_status(sub, today: str) -> None:
    p = sub.add_parser("status", help="show each service (state, pid, memory, URL) and each DAG's last run")
    p.add_argument("--format", **FORMAT)
    p.add_argument("--dags", action="store_true", help="only the last run of each DAG (from Airflow's REST API)")
    p.set_defaults(func=cmd_status)


def cmd_logs(args: argparse.Namespace) -> None:
    from lakehouse import services
    from lakehouse.core.settings import get_settings
    service = services.select([args.service], get_settings())[0]
    path = service.log_file
    if not path.exists():
        raise LakeError(f"no log for {service.name} yet ({path}); has it been started with `lake up`?")
    lines = path.read_text(errors="replace").splitlines()
    print("\n".join(lines[-args.lines:]))
    if args.follow:
        with open(path, errors="replace") as fh:
            fh.seek(0, 2)
            try:
                while True:
                    line = fh.readline()
                    if line:
                        print(line, end="", flush=True)
                    else:
                        time.sleep(0.5)
            except KeyboardInterrupt:
                pass


def add_logs(sub, today: str) -> None:
    p = sub.add_parser("logs", help="print a service's log")
    p.add_argument("service", help="s3, trino, airflow-api-server, airflow-scheduler, ...")
    p.add_argument("-n", "--lines", type=int, default=50, help="how many lines from the end (default 50)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.set_defaults(func=cmd_logs)


def cmd_airflow(args: argparse.Namespace) -> None:
    from lakehouse.core.settings import get_settings
    from lakehouse.orchestration import airflow_env
    sys.exit(airflow_env.run_cli(args.args, get_settings(), check=False))


def add_airflow(sub, today: str) -> None:
    p = sub.add_parser("airflow", help="run the airflow CLI with this checkout's configuration")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for `airflow`")
    p.set_defaults(func=cmd_airflow)


def cmd_deploy(args: argparse.Namespace) -> None:
    from pathlib import Path

    from lakehouse.services import deploy
    result = deploy.render_environment(args.env, Path(args.out), Path(args.hosts) if args.hosts else None)
    for host in result.hosts():
        members = [m.name for m in result.members if m.host == host]
        print(f"{args.out}/{host}: {len(members)} unit{'s' if len(members) != 1 else ''} ({', '.join(members)})")
    print(f"[lake] {result.env_name}: {len(result.members)} units on {len(result.hosts())} hosts, "
          f"{len(result.files)} files in {args.out} (render {deploy.digest(result)}); the map: {args.out}/hosts.md, "
          "each host's steps: <host>/README.md, the guide: docs/deploy.md")


def add_deploy(sub, today: str) -> None:
    p = sub.add_parser("deploy", help="render the stack as systemd units and config files, one folder per host",
                       description="Deploying across hosts (docs/deploy.md). Nothing is started or installed.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = actions.add_parser(
        "render", help="write each host's systemd units, env files and config files into --out",
        description="Write, per host, what an operator installs: DIR/<host>/systemd/lake-<member>.service, "
                    "DIR/<host>/etc/lake/<member>.env (mode 0600: the secrets are there, never in a unit), "
                    "config files under DIR/<host>/etc/lake/<member>/, DIR/<host>/README.md (members, ports to "
                    "open, needs on other hosts), DIR/hosts.md (the whole map) and DIR/environment/<env>.yaml (the "
                    "environment file every host reads, with services.hosts). Derived from the commands "
                    "`lake up` runs, with peer addresses pointed at their hosts and paths moved to /opt/lake, "
                    "/var/lib/lake and /etc/lake. Rendering again into DIR replaces the files of the last render "
                    "there. Needs `lake install` on this machine; reads the install's secrets.")
    r.add_argument("--env", metavar="NAME", help="the environment file lake_config/environments/NAME.yaml "
                   "(default: $LAKE_ENV, else local)")
    r.add_argument("--hosts", metavar="FILE", help="YAML {member-or-group: hostname}, optionally default: "
                   "hostname; without it each numbered member (s3-volume-2, spark-worker-1, …) gets a host named "
                   "after itself and every other member the host named after its group (s3, spark, airflow, …)")
    r.add_argument("--out", metavar="DIR", required=True, help="the folder to write into (created if missing)")
    p.set_defaults(func=cmd_deploy)
