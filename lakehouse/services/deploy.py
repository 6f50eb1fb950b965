"""`lake deploy render`: an environment's stack as systemd units and config files, one folder per host.

Nothing here knows a command line of its own. Every unit is derived from the recipe `lake up` runs for that
member (`stack.all_services`: its `command()`, `env()`, ports and needs; for Trino, the metastore and the S3
gateway the config texts their modules build), then rewritten in two ways only:

* addresses: ``<services.host>:<port>`` (also inside URLs) becomes ``<host of the member owning port>:<port>``;
  a bare ``<services.host>`` left over (a bind or advertise flag) becomes the member's own host name, so each
  process listens on its host's cluster address only, as today it listens on 127.0.0.1 only. A port no member
  owns is refused: render never writes an address it had to guess.
* paths: the state folder becomes ``/var/lib/lake``, the install cache ``/opt/lake``, the checkout and its
  virtualenv ``/opt/lake/app`` (and ``/opt/lake/app/.venv``), Maven's repository ``/opt/lake/m2``; the config
  folders of Trino and the metastore move to ``/etc/lake/<member>/``, Trino's TLS folder to ``/etc/lake/tls``.

Beside the units, ``environment/<env>.yaml``: the environment file with ``services.hosts`` naming where each
service's clients reach it, for the processes that read it at run time (the jobs, Airflow's tasks, our servers).

Secrets never go into a unit: each member's environment is in ``/etc/lake/<member>.env`` (mode 0600), and a
secret on a command line (Spark Connect's S3 keys) is written as ``${LAKE_<NAME>}``, which systemd expands
from that file. With every member on the build host's address and no path mapping, a unit's ExecStart is the
recipe's own command line (tests/unit/test_deploy.py checks it).

The recipes write scratch files as they are asked for their command lines (empty work folders, Airflow's
password file, Trino's node files): give `plan` settings whose state folder is a scratch one, as
`render_environment` does.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from lakehouse.core.errors import ConfigError
from lakehouse.core.settings import REPO_ROOT, Environment, Settings, load_environment
from lakehouse.core.yamlfile import read_mapping
from lakehouse.services.postgres import POSTGRES_OS_USER, postgres_home
from lakehouse.services.stack import all_services
from lakehouse.services.supervisor import Service

STATE = "/var/lib/lake"  # the state folder on every host (LAKE_HOME)
INSTALL = "/opt/lake"  # `lake install`'s cache (weed, Trino, the Spark jars)
APP = "/opt/lake/app"  # the checkout, with its virtualenv in .venv
M2 = "/opt/lake/m2"  # Maven's repository: the metastore's and Spark's Hive client jars
ETC = "/etc/lake"  # env files and config folders
USER = "lake"  # the OS user every member runs as (PostgreSQL: its own)
RUN_AS = {"postgres": POSTGRES_OS_USER}  # initdb and postgres refuse root and expect their own user
# PATH under systemd: the recipes prepend their JDK to the PATH of the shell that ran `lake up`
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MANIFEST = ".lake-deploy-files"  # what the last render into a folder wrote, so the next replaces exactly that
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_./:=,@+${}-]+")


@dataclass
class Member:
    """One member as it runs on its host: the recipe's command line and environment, rewritten."""

    name: str
    group: str
    host: str
    ports: list[int]
    needs: tuple[str, ...]
    user: str
    argv: list[str]  # systemd-escaped words, secrets as ${LAKE_…}
    env: dict[str, str]
    files: dict[str, str]  # deployed path → text
    stop_signal: int
    stop_group: bool
    stop_timeout: float
    reaches: set[tuple[str, int]] = field(default_factory=set)  # (member, port) its files name


@dataclass
class Plan:
    """What a render writes: every member, and the output files by their path under the output folder."""

    env_name: str
    members: list[Member]
    files: dict[str, tuple[str, int]]  # relative path → (text, mode)

    def hosts(self) -> list[str]:
        return sorted({m.host for m in self.members})


# ---- hosts --------------------------------------------------------------------------------

def default_host(service: Service) -> str:
    """Without a hosts file: a numbered member (`s3-volume-2`, `spark-worker-1`, `airflow-worker-1`) on a host
    of its own named after it, every other member on the host named after its group (`s3`, `spark`,
    `airflow`, `trino`, `postgres`, …)."""
    return service.name if re.search(r"-\d+$", service.name) else (service.group or service.name)


def read_hosts(path: Path) -> dict[str, str]:
    """A hosts file: a YAML mapping ``{member-or-group: hostname}`` with an optional ``default:``."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such hosts file (a YAML mapping {{member-or-group: hostname}}; "
                          "see docs/deploy.md)")
    raw = read_mapping(path, "a mapping of member or group names to host names")
    for key, value in raw.items():
        if not isinstance(value, str) or not _HOST_NAME.fullmatch(value):
            raise ConfigError(f"{path}: key {key!r}: {value!r} is not a host name or address")
    return {str(k): v for k, v in raw.items()}


def assign_hosts(services: Sequence[Service], spec: Mapping[str, str] | None = None,
                 source: str = "the hosts file") -> dict[str, str]:
    """Each member's host: its own key, else its group's (a name that is both, such as `s3` or `trino`, is
    the group), else ``default``, else `default_host`. A key naming no member or group is an error."""
    spec = dict(spec or {})
    names = {s.name for s in services}
    groups = {s.group for s in services if s.group}
    unknown = [k for k in spec if k != "default" and k not in names | groups]
    if unknown:
        raise ConfigError(f"{source}: key {unknown[0]!r} names no member or group of this environment "
                          f"(members: {', '.join(s.name for s in services)}; groups: {', '.join(sorted(groups))}; "
                          "or `default`)")
    hosts = {}
    for service in services:
        # a member's own key wins, unless the name is also its group's: then the group's key is that key
        own = spec.get(service.name) if service.name not in groups else None
        hosts[service.name] = (own or spec.get(service.group) or spec.get("default") or default_host(service))
    return hosts


# ---- ports and paths ----------------------------------------------------------------------

def unlisted_ports(settings: Settings) -> dict[str, list[int]]:
    """Ports a member listens on without listing them in `Service.ports` (which `lake up` checks before a
    start): Spark Connect's UI and REST API, on while the master is standalone (io.spark.cluster_conf)."""
    return {"spark": [settings.env.services.spark.ui_port]} if settings.spark_standalone else {}


def port_owners(services: Sequence[Service], settings: Settings) -> dict[int, str]:
    """Every port of the environment → the member listening on it."""
    extra = unlisted_ports(settings)
    owners: dict[int, str] = {}
    for service in services:
        for port in [*service.ports, *extra.get(service.name, [])]:
            if owners.setdefault(port, service.name) != service.name:
                raise ConfigError(f"{settings.environment_file}: port {port} belongs to both {owners[port]} and "
                                  f"{service.name}")
    return owners


def deployed_paths(settings: Settings) -> list[tuple[str, str]]:
    """Build-host folder → folder on every host, longest first (a folder inside another is mapped by its own
    entry)."""
    state = settings.state_dir
    pairs = {
        str(settings.trino_tls_dir): f"{ETC}/tls",
        str(state / "trino" / "etc"): f"{ETC}/trino",
        str(state / "metastore" / "conf"): f"{ETC}/metastore",
        str(state / "s3" / "s3-identities.json"): f"{ETC}/s3/s3-identities.json",
        str(state / "airflow" / "simple_auth_manager_passwords.json"):
            f"{ETC}/airflow-api-server/simple_auth_manager_passwords.json",
        str(postgres_home(settings)): f"{STATE}/postgres",  # moved out of a closed state folder on the build host
        str(state): STATE,
        str(settings.cache_dir): INSTALL,
        str(Path.home() / ".m2"): M2,
        str(REPO_ROOT): APP,
    }
    for n in range(1, settings.env.services.trino.workers + 1):
        pairs[str(state / "trino" / f"worker-{n}" / "etc")] = f"{ETC}/trino-worker-{n}"
    if sys.prefix != sys.base_prefix:  # a virtualenv outside the checkout
        pairs.setdefault(sys.prefix, f"{APP}/.venv")
    return sorted(pairs.items(), key=lambda p: -len(p[0]))


class _Rewriter:
    """Addresses and paths of one environment rewritten for the hosts their members run on."""

    def __init__(self, settings: Settings, hosts: Mapping[str, str], owners: Mapping[int, str],
                 paths: Sequence[tuple[str, str]]):
        self.settings, self.hosts, self.owners = settings, hosts, owners
        self.paths = dict(paths)
        self._path_re = re.compile("(" + "|".join(re.escape(p) for p, _ in paths) + r")(?=$|[/:,;\s\"'=\]])") \
            if paths else None
        self._addr_re = re.compile(r"(?<![\w.])" + re.escape(settings.host) + r"(?![\w.])(?::(\d+)(?!\d))?")

    def __call__(self, text: str, member: Member, where: str) -> str:
        if self._path_re is not None:
            text = self._path_re.sub(lambda m: self.paths[m.group(1)], text)

        def address(match: re.Match) -> str:
            if match.group(1) is None:
                return member.host
            port = int(match.group(1))
            owner = self.owners.get(port)
            if owner is None:
                raise ConfigError(
                    f"{member.name}: {where} names {match.group(0)}, and no member of the "
                    f"{self.settings.env.name} environment listens on port {port}; render refuses to guess its "
                    f"host (check {self.settings.environment_file})")
            member.reaches.add((owner, port))
            return f"{self.hosts[owner]}:{port}"

        return self._addr_re.sub(address, text)


# ---- members ------------------------------------------------------------------------------

def _secret_values(settings: Settings) -> dict[str, str]:
    """Secret value → the LAKE_* variable `Settings.secrets` reads it from (which also overrides it)."""
    out = {}
    for key, value in settings.secrets.items():
        if isinstance(value, str) and len(value) >= 8:
            out[value] = f"LAKE_{key.upper()}"
    return out


def _escape_word(word: str, secrets: Mapping[str, str], env: dict[str, str]) -> str:
    """One ExecStart word as systemd reads it back: ``%`` and ``$`` doubled, a secret as ``${LAKE_…}`` (its
    value put into ``env``), quoted when it holds a character systemd would split or unescape at."""
    word = word.replace("%", "%%").replace("$", "$$")
    for value, variable in secrets.items():
        escaped = value.replace("%", "%%").replace("$", "$$")
        if escaped in word:
            word = word.replace(escaped, "${" + variable + "}")
            env[variable] = value
    if _SAFE_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _config_files(service: Service, settings: Settings) -> dict[str, str]:
    """The config texts a member's `prepare` would write, by their path on the build host."""
    from lakehouse.services import metastore, s3, trino_server

    state, trino = settings.state_dir, settings.env.services.trino
    if service.name == "metastore":
        conf = state / "metastore" / "conf"
        return {str(conf / "metastore-site.xml"): metastore.metastore_site(settings),
                str(conf / "metastore-log4j2.properties"): metastore.METASTORE_LOG4J2}
    if service.name == "s3":  # the gateway (or the one `weed server`): its identities file
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "s3-identities.json"
            s3._write_identities(settings, path)
            return {str(state / "s3" / "s3-identities.json"): path.read_text()}
    if service.name == "airflow-api-server":
        from lakehouse.orchestration import airflow_env
        path = airflow_env.passwords_file(settings)
        return {str(path): path.read_text()}
    worker = re.fullmatch(r"trino-worker-(\d+)", service.name)
    if service.name == "trino" or worker:
        from lakehouse.io.trino import catalog_properties

        home = state / "trino" / (f"worker-{worker.group(1)}" if worker else "")
        etc, data = home / "etc", home / "data"
        if worker:
            config = trino_server._worker_config_properties(settings, trino.worker_port + int(worker.group(1)) - 1)
        else:
            etc.mkdir(parents=True, exist_ok=True)
            config = trino_server._config_properties(settings) + trino_server._event_listener(settings, etc)
        with tempfile.TemporaryDirectory() as scratch:
            # node.id: stable and unique per member, the same on every render
            node_id = uuid.uuid5(uuid.NAMESPACE_URL, f"lake:{settings.env.name}:{service.name}")
            (Path(scratch) / "node-id").write_text(str(node_id))
            files_etc = Path(scratch) / "etc"
            trino_server._write_node_files(settings, Path(scratch), files_etc, data, config,
                                           trino.worker_heap if worker else trino.heap)
            texts = {str(etc / name): (files_etc / name).read_text()
                     for name in ("node.properties", "config.properties", "jvm.config", "log.properties")}
        if not worker:
            texts[str(etc / "event-listener.properties")] = (etc / "event-listener.properties").read_text()
        texts[str(etc / "catalog" / f"{settings.trino_catalog}.properties")] = catalog_properties(settings)
        return texts
    return {}


def _member(service: Service, settings: Settings, hosts: Mapping[str, str], rewrite: _Rewriter,
            secrets: Mapping[str, str]) -> Member:
    argv = list(service.command())
    user = RUN_AS.get(service.name, USER)
    if argv[:1] == ["setpriv"] and "--" in argv:  # `lake up` as root drops to postgres; systemd does that here
        argv = argv[argv.index("--") + 1:]
    member = Member(service.name, service.group, hosts[service.name], list(service.ports), service.needs, user,
                    [], {}, {}, int(service.stop_signal), service.stop_group, service.stop_timeout)
    inherited = os.environ.get("PATH", "")
    env = {"LAKE_ENV": settings.env.name, "LAKE_HOME": str(settings.state_dir), "LAKE_CACHE": str(settings.cache_dir),
           "PATH": SYSTEM_PATH}
    for key, value in service.env().items():
        if key == "PATH" and inherited and value.endswith(inherited):
            value = value[:-len(inherited)] + SYSTEM_PATH
        env[key] = value
    member.env = {k: rewrite(v, member, f"variable {k}") for k, v in env.items()}
    member.argv = [_escape_word(rewrite(w, member, "its command line"), secrets, member.env) for w in argv]
    member.files = {rewrite(p, member, "a config file's path"): rewrite(t, member, f"{Path(p).name}")
                    for p, t in _config_files(service, settings).items()}
    return member


# ---- output -------------------------------------------------------------------------------

def _env_file(env: Mapping[str, str]) -> str:
    lines = ["# lake deploy render: this member's environment (EnvironmentFile=); keep mode 0600, owner root"]
    for key in sorted(env):
        value = env[key]
        if "'" not in value and "\n" not in value:
            lines.append(f"{key}='{value}'")
        else:
            lines.append(f'{key}="' + re.sub(r'(["\\`$])', r"\\\1", value) + '"')
    return "\n".join(lines) + "\n"


def _argv_lines(argv: Sequence[str]) -> list[list[str]]:
    """ExecStart's words one per line, an option and its value together (``--conf key=value``)."""
    lines: list[list[str]] = []
    for word in argv:
        if lines and len(lines) > 1 and len(lines[-1]) == 1 and lines[-1][0].startswith("-") \
                and not word.startswith("-"):
            lines[-1].append(word)
        else:
            lines.append([word])
    return lines


def _unit(member: Member, plan_members: Mapping[str, Member], env_name: str) -> str:
    local = [n for n in member.needs if plan_members[n].host == member.host]
    remote = [n for n in member.needs if plan_members[n].host != member.host]
    after = " ".join(["network-online.target", *(f"lake-{n}.service" for n in local)])
    lines = [f"# lake-{member.name}.service: {member.name} of the {env_name} environment on host {member.host}",
             "# rendered by `lake deploy render` from the recipe `lake up` runs; render again rather than edit"]
    if remote:
        lines.append("# needs, on other hosts (start them first; systemd orders units of one host only): "
                     + ", ".join(f"{n} on {plan_members[n].host}" for n in remote))
    kill_mode = "control-group" if member.stop_group else "mixed"  # mixed: the signal to the main process only
    lines += [
        "", "[Unit]", f"Description=lake {env_name}: {member.name} ({member.group or member.name})",
        f"After={after}", f"Wants={after}",
        "", "[Service]", "Type=simple", f"User={member.user}", f"WorkingDirectory={STATE}",
        f"EnvironmentFile={ETC}/{member.name}.env",
        "ExecStart=" + " \\\n    ".join(" ".join(line) for line in _argv_lines(member.argv)),
        "Restart=on-failure", "RestartSec=5",
        f"KillSignal={signal.Signals(member.stop_signal).name}", f"KillMode={kill_mode}",
        f"TimeoutStopSec={member.stop_timeout:g}",
        "", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def _reached_by(members: Sequence[Member]) -> dict[tuple[str, int], list[Member]]:
    out: dict[tuple[str, int], list[Member]] = {}
    for m in members:
        for target in m.reaches:
            if target[0] != m.name:
                out.setdefault(target, []).append(m)
    return out


def _host_readme(host: str, plan: Plan, owners: Mapping[int, str]) -> str:
    mine = [m for m in plan.members if m.host == host]
    by_name = {m.name: m for m in plan.members}
    reached = _reached_by(plan.members)
    lines = [f"# Host `{host}` ({plan.env_name} environment)", "",
             "Rendered by `lake deploy render`; see docs/deploy.md for the layout every host needs "
             f"({APP}, {INSTALL}, {STATE}, {ETC}) and the one-time steps.", "",
             "## Members, in start order", "",
             "| member | unit | runs as | ports |", "|---|---|---|---|"]
    for m in mine:
        ports = ", ".join(str(p) for p in sorted(p for p, o in owners.items() if o == m.name)) or "none"
        lines.append(f"| {m.name} | lake-{m.name}.service | {m.user} | {ports} |")
    lines += ["", "## Ports to open", "",
              "Who connects, as the rendered units and config files name them; connections made at run time "
              "(jobs, the portal, Spark's executors) are in docs/deploy.md.", "",
              "| port | member | reached by (host) |", "|---|---|---|"]
    for port, owner in sorted(owners.items()):
        if by_name[owner].host != host:
            continue
        peers = reached.get((owner, port), [])
        who = ", ".join(sorted({f"{p.name} ({p.host})" for p in peers})) \
            or "no rendered file names it (run-time clients: docs/deploy.md)"
        lines.append(f"| {port} | {owner} | {who} |")
    if lines[-1].startswith("| port |") or lines[-1] == "|---|---|---|":
        lines[-2:] = ["None: nothing on this host listens."]
    lines += ["", "## Needs on other hosts", ""]
    remote = [(m.name, n, by_name[n].host) for m in mine for n in m.needs if by_name[n].host != host]
    reaches = sorted({(m.name, o, p) for m in mine for o, p in m.reaches if by_name[o].host != host})
    if not remote and not reaches:
        lines.append("None.")
    for name, need, other in remote:
        lines.append(f"- {name} starts after {need} on `{other}` answers (systemd cannot order that: start "
                     f"`{other}` first)")
    for name, owner, port in reaches:
        lines.append(f"- {name} connects to {owner} on `{by_name[owner].host}`:{port}")
    lines += ["", "## Install", "", "```sh",
              f"install -d -o {USER} {STATE}",
              f"install -m 0644 ../environment/{plan.env_name}.yaml {APP}/lake_config/environments/",
              f"install -m 0600 -o root etc/lake/*.env {ETC}/"]
    lines += [f"cp -r etc/lake/{m.name} {ETC}/ && chown -R {m.user} {ETC}/{m.name} && "
              f"chmod -R go-rwx {ETC}/{m.name}" for m in mine if m.files]
    lines += ["install -m 0644 systemd/lake-*.service /etc/systemd/system/", "systemctl daemon-reload",
              "systemctl enable --now " + " ".join(f"lake-{m.name}.service" for m in mine), "```", ""]
    return "\n".join(lines)


def _hosts_md(plan: Plan, owners: Mapping[int, str]) -> str:
    lines = [f"# Hosts of the {plan.env_name} environment", "",
             "Rendered by `lake deploy render`. Members in start order (the order of `lake up`).", "",
             "| member | group | host | ports | needs |", "|---|---|---|---|---|"]
    for m in plan.members:
        ports = ", ".join(str(p) for p in sorted(p for p, o in owners.items() if o == m.name)) or "none"
        lines.append(f"| {m.name} | {m.group} | {m.host} | {ports} | {', '.join(m.needs) or 'none'} |")
    return "\n".join(lines) + "\n"


CLIENT_MEMBER = {"airflow": "airflow-api-server"}  # the member clients reach, where it is not the group's name


def service_hosts(members: Sequence[Member]) -> dict[str, str]:
    """``services.hosts`` for the deployed environment file: each service → the host of the member its clients
    reach (the S3 gateway, the Spark Connect server, Trino's coordinator, Airflow's api-server, …)."""
    by_name = {m.name: m for m in members}
    out = {}
    for group in sorted({m.group or m.name for m in members}):
        member = by_name.get(CLIENT_MEMBER.get(group, group))
        if member is not None:
            out[group] = member.host
    return out


def _environment_file(settings: Settings, members: Sequence[Member]) -> str:
    """The environment file every host reads at run time (the jobs, Airflow's tasks, events, sharing, the
    portal): the build host's, with ``services.hosts`` naming where each service runs."""
    import yaml

    raw = read_mapping(settings.environment_file)
    raw.setdefault("services", {})["hosts"] = service_hosts(members)
    text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    return (f"# {settings.env.name}.yaml as deployed: rendered by `lake deploy render` from "
            f"lake_config/environments/{settings.env.name}.yaml with services.hosts added.\n"
            f"# Install it on every host as {APP}/lake_config/environments/{settings.env.name}.yaml; "
            "render again rather than edit.\n" + text)


def plan(settings: Settings, hosts: Mapping[str, str], paths: Sequence[tuple[str, str]] | None = None) -> Plan:
    """Every member of ``settings``' environment rendered for ``hosts`` (member → host, from `assign_hosts`);
    ``paths`` maps build-host folders to deployed ones (`deployed_paths` when None; ``[]``: paths unchanged)."""
    services = all_services(settings)
    owners = port_owners(services, settings)
    rewrite = _Rewriter(settings, hosts, owners, deployed_paths(settings) if paths is None else paths)
    secrets = _secret_values(settings)
    members = [_member(s, settings, hosts, rewrite, secrets) for s in services]
    by_name = {m.name: m for m in members}
    result = Plan(settings.env.name, members, {})
    for m in members:
        result.files[f"{m.host}/systemd/lake-{m.name}.service"] = (_unit(m, by_name, settings.env.name), 0o644)
        result.files[f"{m.host}/etc/lake/{m.name}.env"] = (_env_file(m.env), 0o600)
        for path, text in m.files.items():
            result.files[f"{m.host}/{path.lstrip('/')}"] = (text, 0o600)
    for host in result.hosts():
        result.files[f"{host}/README.md"] = (_host_readme(host, result, owners), 0o644)
    result.files["hosts.md"] = (_hosts_md(result, owners), 0o644)
    result.files[f"environment/{settings.env.name}.yaml"] = (_environment_file(settings, members), 0o644)
    return result


def write(result: Plan, out: Path) -> None:
    """Write ``result`` into ``out``: the files of the last render there that this one lacks are removed
    (and folders left empty), everything else in ``out`` is left alone."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    previous = manifest.read_text().splitlines() if manifest.exists() else []
    for rel in previous:
        if rel not in result.files and ".." not in Path(rel).parts:
            path = out / rel
            path.unlink(missing_ok=True)
            for parent in path.parents:
                if parent == out or not parent.is_dir() or any(parent.iterdir()):
                    break
                parent.rmdir()
    for rel, (text, mode) in sorted(result.files.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        os.replace(tmp, path)
    manifest.write_text("".join(f"{rel}\n" for rel in sorted(result.files)))


def render_environment(env_name: str | None, out: Path, hosts_file: Path | None = None) -> Plan:
    """`lake deploy render`: the environment's members rendered into ``out``.

    The install's secrets are read (generated into its state folder first if it has none, as `lake up`
    would); everything else the recipes write goes to a scratch state folder, deleted afterwards, so the
    install's own state is not touched."""
    env: Environment = load_environment(env_name)
    env.services.hosts = {}  # every member derived on the build host's address, then moved by the hosts map
    secrets = dict(Settings(env).secrets)
    spec = read_hosts(hosts_file) if hosts_file else None
    with tempfile.TemporaryDirectory(prefix="lake-deploy-") as scratch:
        settings = Settings(env, home=Path(scratch))
        settings.secrets = secrets  # type: ignore[misc]  # a cached_property: the install's, not new ones
        hosts = assign_hosts(all_services(settings), spec, str(hosts_file) if hosts_file else "the default hosts")
        result = plan(settings, hosts)
    write(result, out)
    return result


def digest(result: Plan) -> str:
    """One hash of every output file (path, mode, text): equal for equal renders."""
    h = hashlib.sha256()
    for rel, (text, mode) in sorted(result.files.items()):
        h.update(f"{rel}\0{mode:o}\0".encode() + text.encode() + b"\0")
    return h.hexdigest()[:12]
