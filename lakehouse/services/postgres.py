"""The stack's PostgreSQL (the ministry's dossier system, a source database, and the metadata of the
metastore and Airflow): where its files live, its process, and its roles and databases."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from typing import Collection, Sequence

from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings
from lakehouse.io import install
from lakehouse.services.supervisor import Service, say

POSTGRES_SUPERUSER = "postgres"
POSTGRES_OS_USER = "postgres"  # initdb and postgres refuse to run as root


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """Run ``cmd`` as the `postgres` OS user when we are root.

    setpriv execs in place (runuser would fork and stay the parent), so the pid
    `lake` records is the postmaster itself and its command line is the server's.
    """
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", f"--reuid={POSTGRES_OS_USER}", f"--regid={POSTGRES_OS_USER}", "--init-groups", "--", *cmd]


def _pg_connect(settings: Settings, socket_dir: Path, dbname: str = "postgres", timeout: int = 2):
    """A superuser connection over our own Unix socket (trusted; the socket dir is private)."""
    import psycopg

    return psycopg.connect(host=str(socket_dir), port=settings.env.services.postgres.port,
                           user=POSTGRES_SUPERUSER, dbname=dbname, connect_timeout=timeout, autocommit=True)


# ---- where PostgreSQL keeps its files ----
# As root, the server runs as the `postgres` OS user, which must enter every folder above its data.
# A state folder under a private home (/root is drwx------) is out of its reach: its files then
# live in POSTGRES_ELSEWHERE/postgres-<hash of the state folder>, and <state>/postgres is a
# symlink to that folder, which is how `up`, `status`, `down` and `make clean-state` find it.
# Not /var/tmp: systemd-tmpfiles deletes files there that nobody touched for 30 days.
POSTGRES_ELSEWHERE = Path("/var/lib/lakehouse")


def can_enter(mode: int, owner: int, group: int, uid: int, gids: Collection[int]) -> bool:
    """Whether user ``uid`` (member of ``gids``) may enter a folder with permission bits ``mode`` owned by
    ``owner``:``group`` (the owner's bits apply to the owner, the group's to its members, the others' to the rest)."""
    if uid == 0:
        return True
    if owner == uid:
        return bool(mode & stat.S_IXUSR)
    if group in gids:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def first_closed_folder(folders: Sequence[tuple[Path, int, int, int]], uid: int,
                        gids: Collection[int]) -> Path | None:
    """The outermost of ``folders`` (path, mode, owner uid, owner gid; from / down) that ``uid`` cannot enter,
    or None when it can enter all of them."""
    for path, mode, owner, group in folders:
        if not can_enter(mode, owner, group, uid, gids):
            return path
    return None


def _folder_chain(folder: Path) -> list[tuple[Path, int, int, int]]:
    """``folder`` and every folder above it, from / down, with mode and owners (of where a symlink
    leads): as written, then as resolved, since a path through a symlink needs both."""
    chain, seen = [], set()
    for path in (folder.absolute(), folder.resolve()):
        for step in [*reversed(path.parents), path]:
            if step not in seen:
                seen.add(step)
                st = step.stat()
                chain.append((step, st.st_mode, st.st_uid, st.st_gid))
    return chain


def _postgres_os_user():
    import pwd
    try:
        return pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError as exc:
        raise ServiceError(f"postgres: no `{POSTGRES_OS_USER}` OS user to run the server as "
                           "(PostgreSQL refuses to run as root); reinstall the `postgresql` package") from exc


def postgres_closed_folder(state_dir: Path) -> Path | None:
    """The folder above PostgreSQL's files in ``state_dir`` that the server's OS user cannot enter (None:
    it can enter them all, or we are not root and the server runs as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = _postgres_os_user()
    except ServiceError:  # `prepare` says so when it matters; `status` and `down` need no such user
        return None
    return first_closed_folder(_folder_chain(state_dir), pw.pw_uid, set(os.getgrouplist(pw.pw_name, pw.pw_gid)))


def postgres_elsewhere(state_dir: Path) -> Path:
    """The folder PostgreSQL's files move to when the server cannot reach ``state_dir``: one per state folder."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return POSTGRES_ELSEWHERE / f"postgres-{digest}"


def postgres_home(settings: Settings) -> Path:
    """The folder of PostgreSQL's data (``data/``) and socket (``run/``): ``<state>/postgres``, or where that
    symlink points, or (not started yet) where ``prepare`` will put it: elsewhere when the server's OS
    user cannot enter the state folder and no cluster is in place yet."""
    link = settings.state_dir.absolute() / "postgres"
    if link.is_symlink():
        return Path(os.readlink(link))
    if (link / "data" / "PG_VERSION").exists() or postgres_closed_folder(link.parent) is None:
        return link
    return postgres_elsewhere(link.parent)


def _place_postgres_home(settings: Settings, home: Path) -> None:
    """Create ``home`` for the server's OS user (mode 700); when it is not ``<state>/postgres``, make that
    a symlink to it and say once where it went and why."""
    link = settings.state_dir.absolute() / "postgres"
    pw = _postgres_os_user() if os.geteuid() == 0 else None
    if home != link:
        POSTGRES_ELSEWHERE.mkdir(mode=0o755, parents=True, exist_ok=True)
        try:
            home.mkdir(mode=0o700)
        except FileExistsError:
            pass
        st = os.lstat(home)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, pw.pw_uid if pw else os.geteuid()):
            raise ServiceError(f"postgres: {home} exists but is not a folder of root or `{POSTGRES_OS_USER}`; "
                               "remove it and run `lake up postgres` again")
        if not link.is_symlink():
            if link.exists():  # what an earlier, failed start left: no cluster (postgres_home checked)
                shutil.rmtree(link)
            link.symlink_to(home)
            say(f"postgres: the `{POSTGRES_OS_USER}` OS user cannot enter {postgres_closed_folder(link.parent)}, "
                f"so PostgreSQL's data and socket live in {home} ({link} points there)")
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    if pw is not None:
        os.chown(home, pw.pw_uid, pw.pw_gid)


def _postgres_service(settings: Settings) -> Service:
    cfg = settings.env.services.postgres
    root = postgres_home(settings)
    data = root / "data"
    socket_dir = root / "run"

    def prepare() -> None:
        bindir = install.find_postgres(install=False)
        _place_postgres_home(settings, root)
        socket_dir.mkdir(parents=True, exist_ok=True)
        socket_dir.chmod(0o700)
        if os.geteuid() == 0:
            pw = _postgres_os_user()
            os.chown(socket_dir, pw.pw_uid, pw.pw_gid)
            # the mode bits said yes (or the cluster was already here); ask the system itself (ACLs, mounts)
            if subprocess.run(_as_postgres_user(["test", "-w", str(root)])).returncode != 0:
                raise ServiceError(f"postgres: the `{POSTGRES_OS_USER}` OS user cannot reach {root}; every "
                                   f"folder above it needs o+x, or move {root} to a folder it can reach and "
                                   "leave a symlink to it in its place")
        if (data / "PG_VERSION").exists():
            return
        partial = root / "data.partial"
        subprocess.run(_as_postgres_user(["rm", "-rf", str(partial)]), check=False)
        say(f"postgres: initdb {data} (first start only)")
        result = subprocess.run(_as_postgres_user([
            str(bindir / "initdb"), "-D", str(partial), "-U", POSTGRES_SUPERUSER, "--encoding=UTF8",
            "--locale=C.UTF-8", "--auth-host=scram-sha-256", "--auth-local=trust"]),
            capture_output=True, text=True, cwd=root)
        if result.returncode != 0:
            raise ServiceError(f"postgres: initdb failed (exit {result.returncode}):\n"
                               + (result.stdout + result.stderr).strip()[-3000:])
        partial.rename(data)

    def command() -> list[str]:
        bindir = install.find_postgres(install=False)
        return _as_postgres_user([
            str(bindir / "postgres"), "-D", str(data), "-p", str(cfg.port),
            "-c", f"listen_addresses={settings.host}", "-c", f"unix_socket_directories={socket_dir}"])

    def healthy() -> bool:
        import psycopg

        if not (socket_dir / f".s.PGSQL.{cfg.port}").exists():
            return False
        try:
            with _pg_connect(settings, socket_dir) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def set_up() -> None:
        _ensure_roles_and_databases(settings, socket_dir)

    # our command line (setpriv execs into it) holds the data dir, so another cluster is never ours
    return Service("postgres", [cfg.port], command, healthy,
                   url=f"postgresql://{settings.host}:{cfg.port}", prepare=prepare, set_up=set_up,
                   start_timeout=60, marker=f"postgres -D {data}", group="postgres",
                   # SIGINT to the postmaster alone = "fast" shutdown: roll back sessions, checkpoint, exit
                   stop_signal=signal.SIGINT, stop_group=False, settings=settings)


def _ensure_roles_and_databases(settings: Settings, socket_dir: Path) -> None:
    """Each `connections` entry on the local server gets its login role (password from secrets) and database."""
    password = settings.secrets["postgres_password"]
    for c in settings.env.connections.values():
        if c.service == "postgres" and c.host is None:
            ensure_database(settings, c.user, c.database, password, socket_dir)


def postgres_socket_dir(settings: Settings) -> Path:
    return postgres_home(settings) / "run"


def ensure_database(settings: Settings, user: str, database: str, password: str,
                    socket_dir: Path | None = None) -> bool:
    """A login role (its password set to ``password``) owning ``database`` on our PostgreSQL; idempotent.
    True when it created the database."""
    from psycopg import sql

    with _pg_connect(settings, socket_dir or postgres_socket_dir(settings), timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(password)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                sql.Identifier(database), sql.Identifier(user)))
            say(f"postgres: created database {database} owned by {user}")
            return True
    return False


def drop_database(settings: Settings, database: str) -> None:
    """Drop ``database`` (closing its sessions) if it exists."""
    from psycopg import sql

    with _pg_connect(settings, postgres_socket_dir(settings), timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
