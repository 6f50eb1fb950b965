"""Install what the local stack needs, once, into the shared cache.

Everything comes from the package registries this platform may use: the `weed`
S3 server is built from the Go module proxy, the Spark jars and the Trino server
come from Maven Central, PostgreSQL (the stand-in source database) from Debian's apt.  Each step is idempotent: a finished step leaves a
marker and is skipped next time.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from lakehouse.core.errors import LakeError, MissingToolError
from lakehouse.core.settings import REPO_ROOT, Settings

TRINO_VERSION = "476"
TRINO_PLUGINS = ("delta-lake", "password-authenticators", "http-event-listener")  # only the plugins we use
# are unpacked (password-authenticators: the password file and the group file of Trino secured;
# http-event-listener: every finished query is POSTed to the `events` service, for usage and audit)
TRINO_MIN_JAVA = 24
SPARK_JAVA = (17, 21)  # Spark 4.1 runs on Java 17 or 21

WEED_MODULE_DIR = REPO_ROOT / "infra" / "s3" / "weed"
SPARK_POM = REPO_ROOT / "infra" / "spark" / "pom.xml"
METASTORE_VERSION = "4.0.1"
METASTORE_POM = REPO_ROOT / "infra" / "metastore" / "pom.xml"
METASTORE_CLIENT_POM = REPO_ROOT / "infra" / "metastore" / "spark-client" / "pom.xml"  # Spark's Hive 4 client


def say(message: str) -> None:
    print(f"[lake] {message}", flush=True)


def require_tool(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if not path:
        raise MissingToolError(f"`{name}` is not on PATH. Install it: {install_hint}")
    return path


def _run(cmd: list[str], what: str, cwd: Path | None = None, env: dict | None = None) -> None:
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise LakeError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}")
    say(f"{what}: done in {time.monotonic() - started:.0f}s")


# ---- Java -----------------------------------------------------------------------

def _java_major(java_home: Path) -> int | None:
    release = java_home / "release"
    if release.exists():
        m = re.search(r'JAVA_VERSION="(\d+)', release.read_text(errors="replace"))
        if m:
            return int(m.group(1))
    java = java_home / "bin" / "java"
    if java.exists():
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
        m = re.search(r'version "(\d+)', out)
        if m:
            return int(m.group(1))
    return None


def _java_homes() -> list[Path]:
    found: list[Path] = []
    for var in ("LAKE_TRINO_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            found.append(Path(os.environ[var]))
    for root in ("/usr/lib/jvm", "/opt/java", "/usr/local/lib/jvm", str(Path.home() / ".jdks")):
        if Path(root).is_dir():
            found.extend(sorted(p for p in Path(root).iterdir() if (p / "bin" / "java").exists()))
    java = shutil.which("java")
    if java:
        found.append(Path(java).resolve().parent.parent)
    unique: list[Path] = []
    for p in found:
        if p.resolve() not in [u.resolve() for u in unique] and (p / "bin" / "java").exists():
            unique.append(p)
    return unique


def find_java(min_major: int, max_major: int | None = None) -> Path:
    """The home of an installed JDK whose major version is in [min_major, max_major]."""
    candidates = [(m, h) for h in _java_homes() if (m := _java_major(h)) is not None
                  and m >= min_major and (max_major is None or m <= max_major)]
    if not candidates:
        seen = ", ".join(f"{h} ({_java_major(h)})" for h in _java_homes()) or "none"
        wanted = f"{min_major}" + (f"..{max_major}" if max_major else "+")
        raise MissingToolError(
            f"no JDK {wanted} found (looked at $LAKE_TRINO_JAVA_HOME, $JAVA_HOME, /usr/lib/jvm, PATH; saw {seen}). "
            f"Install one, e.g. `apt-get install openjdk-{min_major}-jdk-headless` or a Temurin {min_major}+ JDK, "
            f"or point LAKE_TRINO_JAVA_HOME at it.")
    return sorted(candidates, key=lambda mh: mh[0])[0][1] if max_major else max(candidates)[1]


def trino_java_home() -> Path:
    return find_java(TRINO_MIN_JAVA)


def spark_java_home() -> Path:
    return find_java(*SPARK_JAVA)


# ---- SeaweedFS ---------------------------------------------------------------------

def weed_version() -> str:
    gomod = (WEED_MODULE_DIR / "go.mod").read_text()
    m = re.search(r"github\.com/seaweedfs/seaweedfs (v\S+)", gomod)
    if not m:
        raise LakeError(f"{WEED_MODULE_DIR / 'go.mod'}: no pinned github.com/seaweedfs/seaweedfs version")
    return m.group(1)


def weed_binary(settings: Settings) -> Path:
    return settings.cache_dir / "bin" / f"weed-{weed_version()}"


def install_weed(settings: Settings) -> Path:
    target = weed_binary(settings)
    if target.exists():
        return target
    require_tool("go", "Go 1.26+ (https://go.dev is not reachable here: `apt-get install golang` or use the machine's Go)")
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"building SeaweedFS weed {weed_version()} with the Go module proxy (first time only, a few minutes)")
    tmp = target.with_suffix(".partial")
    _run(["go", "build", "-o", str(tmp), "github.com/seaweedfs/seaweedfs/weed"], "build weed", cwd=WEED_MODULE_DIR)
    tmp.rename(target)
    return target


# ---- Spark jars --------------------------------------------------------------------

def jars_dir(settings: Settings) -> Path:
    digest = hashlib.sha256(SPARK_POM.read_bytes()).hexdigest()[:12]
    return settings.cache_dir / "jars" / digest


def install_jars(settings: Settings) -> Path:
    target = jars_dir(settings)
    if (target / ".complete").exists():
        return target
    require_tool("mvn", "Apache Maven (`apt-get install maven`)")
    say("resolving Spark jars (Delta, hadoop-aws, AWS SDK) from Maven Central into the cache")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    _run(["mvn", "-q", "-B", "-f", str(SPARK_POM), "dependency:copy-dependencies",
          f"-DoutputDirectory={tmp}"], "resolve Spark jars")
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def spark_jars(settings: Settings) -> list[str]:
    folder = jars_dir(settings)
    if not (folder / ".complete").exists():
        raise MissingToolError(f"Spark jars are not installed in {folder}: run `lake install`")
    return sorted(str(p) for p in folder.glob("*.jar"))


# ---- Hive Metastore --------------------------------------------------------------------

def metastore_dir(settings: Settings) -> Path:
    """Its classpaths (server, Spark's client) and schema scripts, keyed by the poms (a changed pom resolves anew)."""
    digest = hashlib.sha256(METASTORE_POM.read_bytes() + METASTORE_CLIENT_POM.read_bytes()).hexdigest()[:12]
    return settings.cache_dir / "metastore" / f"{METASTORE_VERSION}-{digest}"


def metastore_classpath(settings: Settings, client: bool = False) -> list[str]:
    """The metastore's runtime jars, or (``client``) those of Spark's Hive 4 client; they live in ~/.m2.

    Raises when they are not installed or were deleted since.
    """
    listing = metastore_dir(settings) / ("spark-client-classpath.txt" if client else "classpath.txt")
    if not listing.exists():
        raise MissingToolError(f"the Hive Metastore is not installed ({listing} is missing): run `lake install`")
    jars = [j for j in listing.read_text().strip().split(os.pathsep) if j]
    gone = [j for j in jars if not Path(j).exists()]
    if gone:
        raise MissingToolError(f"{len(gone)} Hive Metastore jars are gone from the Maven cache (e.g. {gone[0]}): "
                               "run `lake install` to fetch them again")
    return jars


def metastore_schema_dir(settings: Settings) -> Path:
    """``METASTORE_HOME`` for the schema tool: it reads ``scripts/metastore/upgrade/<db>/`` under it."""
    return metastore_dir(settings) / "home"


def install_metastore(settings: Settings) -> Path:
    target = metastore_dir(settings)
    if (target / ".complete").exists():
        try:
            metastore_classpath(settings)
            metastore_classpath(settings, client=True)
            return target
        except MissingToolError:
            say("Hive Metastore jars are missing from ~/.m2; resolving them again")
    require_tool("mvn", "Apache Maven (`apt-get install maven`)")
    say(f"resolving the Hive Metastore {METASTORE_VERSION} and its jars from Maven Central (first time only)")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _run(["mvn", "-q", "-B", "-f", str(METASTORE_POM), "dependency:build-classpath",
          f"-Dmdep.outputFile={tmp / 'classpath.txt'}", "-Dmdep.includeScope=runtime"],
         "resolve the Hive Metastore jars")
    _run(["mvn", "-q", "-B", "-f", str(METASTORE_CLIENT_POM), "dependency:build-classpath",
          f"-Dmdep.outputFile={tmp / 'spark-client-classpath.txt'}", "-Dmdep.includeScope=runtime"],
         "resolve Spark's Hive 4 metastore client jars")
    tarball = settings.cache_dir / "downloads" / f"hive-standalone-metastore-server-{METASTORE_VERSION}-bin.tar.gz"
    if not tarball.exists():
        _maven_fetch(f"org.apache.hive:hive-standalone-metastore-server:{METASTORE_VERSION}:tar.gz:bin",
                     tarball.parent)
    home = tmp / "home"
    home.mkdir()
    # only the PostgreSQL schema scripts: the jars come from the classpath above
    _run(["tar", "-xzf", str(tarball), "-C", str(home), "--strip-components=1", "--wildcards",
          "*/scripts/metastore/upgrade/postgres/*"], "unpack the metastore's PostgreSQL schema scripts")
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


# ---- Trino -------------------------------------------------------------------------

def trino_home(settings: Settings) -> Path:
    return settings.cache_dir / f"trino-server-{TRINO_VERSION}"


def trino_cli_jar(settings: Settings) -> Path:
    return settings.cache_dir / f"trino-cli-{TRINO_VERSION}-executable.jar"


def _maven_fetch(artifact: str, out_dir: Path) -> None:
    require_tool("mvn", "Apache Maven (`apt-get install maven`)")
    _run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={out_dir}",
          "-Dmdep.overWriteIfNewer=false"], f"fetch {artifact} from Maven Central")


def install_trino(settings: Settings) -> Path:
    home = trino_home(settings)
    if not (home / ".complete").exists():
        downloads = settings.cache_dir / "downloads"
        tarball = downloads / f"trino-server-{TRINO_VERSION}.tar.gz"
        if not tarball.exists():
            say(f"fetching io.trino:trino-server:{TRINO_VERSION} (about 800 MB, first time only)")
            _maven_fetch(f"io.trino:trino-server:{TRINO_VERSION}:tar.gz", downloads)
        say(f"unpacking Trino {TRINO_VERSION} core and plugins {', '.join(TRINO_PLUGINS)}")
        tmp = home.with_name(home.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        # The archive hard-links shared jars across plugin folders, so unpack it
        # whole (links cost no space), keep what we run and drop the rest.
        _run(["tar", "-xzf", str(tarball), "-C", str(tmp), "--strip-components=1"], "unpack Trino")
        for plugin in (tmp / "plugin").iterdir():
            if plugin.name not in TRINO_PLUGINS:
                shutil.rmtree(plugin)
        (tmp / ".complete").write_text("ok\n")
        shutil.rmtree(home, ignore_errors=True)
        tmp.rename(home)
    _add_trino_plugins(home, settings)
    cli = trino_cli_jar(settings)
    if not cli.exists():
        _maven_fetch(f"io.trino:trino-cli:{TRINO_VERSION}:jar:executable", cli.parent)
    return home


def _add_trino_plugins(home: Path, settings: Settings) -> None:
    """Unpack plugins added to TRINO_PLUGINS since ``home`` was unpacked, beside the others.

    A running Trino of another checkout may use ``home``, so it is never re-made: the
    archive is unpacked aside (its jars are hard links, so one folder cannot be
    taken alone) and each missing plugin folder is moved in whole.
    """
    missing = [p for p in TRINO_PLUGINS if not (home / "plugin" / p).is_dir()]
    if not missing:
        return
    tarball = settings.cache_dir / "downloads" / f"trino-server-{TRINO_VERSION}.tar.gz"
    if not tarball.exists():
        _maven_fetch(f"io.trino:trino-server:{TRINO_VERSION}:tar.gz", tarball.parent)
    say(f"unpacking Trino plugins {', '.join(missing)}")
    tmp = home.with_name(home.name + ".plugins.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _run(["tar", "-xzf", str(tarball), "-C", str(tmp), "--strip-components=1"], "unpack Trino")
        for plugin in missing:
            (tmp / "plugin" / plugin).rename(home / "plugin" / plugin)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- PostgreSQL ----------------------------------------------------------------------

POSTGRES_ROOT = Path("/usr/lib/postgresql")
POSTGRES_TOOLS = ("postgres", "initdb", "pg_ctl")


def _postgres_bin_dirs() -> list[tuple[int, Path]]:
    if not POSTGRES_ROOT.is_dir():
        return []
    found = []
    for major in POSTGRES_ROOT.iterdir():
        bindir = major / "bin"
        if major.name.isdigit() and all((bindir / tool).exists() for tool in POSTGRES_TOOLS):
            found.append((int(major.name), bindir))
    return sorted(found)


def find_postgres(install: bool = True) -> Path:
    """The bin dir of the newest ``/usr/lib/postgresql/<major>/bin`` (Debian's layout).

    When none is there and we are root, ``apt-get install postgresql`` (Debian's
    current major) first; otherwise say what to install.
    """
    found = _postgres_bin_dirs()
    if found:
        return found[-1][1]
    hint = "`apt-get install -y --no-install-recommends postgresql`"
    if not install or os.geteuid() != 0:
        raise MissingToolError(f"PostgreSQL server binaries ({', '.join(POSTGRES_TOOLS)}) not found under "
                               f"{POSTGRES_ROOT}/<major>/bin. Install them as root: {hint}")
    say("installing PostgreSQL from Debian (apt-get install postgresql, first time only)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
         "apt-get install postgresql", env=env)
    found = _postgres_bin_dirs()
    if not found:
        raise MissingToolError(f"`apt-get install postgresql` finished but no {POSTGRES_ROOT}/<major>/bin "
                               f"has {', '.join(POSTGRES_TOOLS)}; install the server package by hand: {hint}")
    return found[-1][1]


# ---- all ---------------------------------------------------------------------------

def install_all(settings: Settings) -> None:
    """Build or fetch every binary the local stack runs; skip what is cached."""
    started = time.monotonic()
    trino_java_home()  # fail early, before long downloads, when no JDK 24+ exists
    spark_java_home()
    install_jars(settings)
    install_trino(settings)
    install_weed(settings)
    install_metastore(settings)
    find_postgres()
    say(f"install complete in {time.monotonic() - started:.0f}s (cache: {settings.cache_dir})")
