"""The S3 server of the stack: SeaweedFS, its identities file, and its bucket set up once it answers.

One `weed server` process by default; with ``services.s3.volume_servers`` above 1, a master, that many volume
servers (objects replicated by ``services.s3.replication``), a filer and an S3 gateway, each its own process."""

from __future__ import annotations

import json
import time
from pathlib import Path

from lakehouse.core.settings import Settings
from lakehouse.io import install
from lakehouse.services.supervisor import Service, http_status, port_open

S3_STOP_TIMEOUT = 5.0
VOLUME_CLOSE_SECONDS = 0.5  # after its ports close, the volume server closes its files


def volume_closed(settings: Settings, volume_port: int):
    """A ``stop_done`` for weed: its volume server's ports (HTTP and gRPC) have been closed for
    ``VOLUME_CLOSE_SECONDS``; before the stop signal they answer, so it cannot hold early."""
    closed_at: list[float] = []

    def done() -> bool:
        if any(port_open(settings.host, p) for p in (volume_port, volume_port + 10000)):
            closed_at.clear()
            return False
        closed_at[:] = closed_at or [time.monotonic()]
        return time.monotonic() - closed_at[0] >= VOLUME_CLOSE_SECONDS

    return done


def _s3_services(settings: Settings) -> list[Service]:
    """SeaweedFS's processes in start order: one `weed server`, or its master, volume servers, filer and S3
    gateway."""
    if settings.env.services.s3.volume_servers == 1:
        return [_s3_service(settings)]
    return [_weed_master(settings),
            *(_weed_volume(settings, n) for n in range(1, settings.env.services.s3.volume_servers + 1)),
            _weed_filer(settings), _s3_gateway(settings)]


def _write_identities(settings: Settings, path) -> None:
    """The S3 gateway's one identity: the lake's generated access and secret key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    identities = {"identities": [{
        "name": "lake",
        "credentials": [{"accessKey": settings.s3_access_key, "secretKey": settings.s3_secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}
    path.write_text(json.dumps(identities, indent=2))
    path.chmod(0o600)


def _s3_set_up(settings: Settings) -> None:
    from lakehouse.io.storage import ensure_bucket, ensure_usable
    ensure_bucket(settings)
    ensure_usable(settings)  # up means objects can be stored, not only that the ports answer


def _s3_service(settings: Settings) -> Service:
    cfg = settings.env.services.s3
    data_dir = settings.s3_data_dir
    s3_config = data_dir / "s3-identities.json"

    def prepare() -> None:
        _write_identities(settings, s3_config)

    def command() -> list[str]:
        return [str(install.weed_binary(settings)), "server",
                f"-ip={settings.host}", f"-ip.bind={settings.host}", f"-dir={data_dir}",
                f"-master.port={cfg.master_port}", f"-volume.port={cfg.volume_port}",
                "-filer", f"-filer.port={cfg.filer_port}",
                "-s3", f"-s3.port={cfg.port}", f"-s3.config={s3_config}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",  # REST catalogs we do not use
                "-master.volumeSizeLimitMB=1024", "-volume.max=0",
                # one master: after a restart it waits this long before electing itself leader, and until
                # then nothing can be written (the default, 10 s, was most of a restart's wait)
                "-master.electionTimeout=1s",
                # one volume server, so no client to redirect before it stops: skip its 10 s pre-stop wait
                "-volume.preStopSeconds=0"]

    def healthy() -> bool:
        return http_status(f"http://{settings.host}:{cfg.port}/") is not None and \
            http_status(f"http://{settings.host}:{cfg.master_port}/cluster/status") == 200

    # each server's port and its gRPC port (+10000), the S3 API's included
    ports = [cfg.port, cfg.master_port, cfg.volume_port, cfg.filer_port,
             cfg.port + 10000, cfg.master_port + 10000, cfg.volume_port + 10000, cfg.filer_port + 10000]
    return Service("s3", ports, command, healthy, url=f"http://{settings.host}:{cfg.port}",
                   prepare=prepare, set_up=lambda: _s3_set_up(settings), start_timeout=90, marker="weed", group="s3",
                   # On SIGTERM weed stops its volume server before its filer, whose last metadata-log flush
                   # then retries against the closed volumes for 15 s and is dropped anyway. The volume server
                   # closes its ports, then its files (well under a second; what it stored was written to them
                   # when it was acknowledged): SIGKILL half a second after its ports close, at most 5 s in.
                   stop_timeout=S3_STOP_TIMEOUT, stop_done=volume_closed(settings, cfg.volume_port),
                   stop_note="its volume server has closed; the filer would wait 15 s to write its change log "
                   "to it", settings=settings)


def _weed(settings: Settings, role: str, *flags: str) -> list[str]:
    return [str(install.weed_binary(settings)), role, f"-ip={settings.host}", f"-ip.bind={settings.host}", *flags]


def _weed_member(settings: Settings, name: str, role: str, port: int, folder_flag: str, folder: Path,
                 *flags: str, health: str = "/", needs: tuple[str, ...] = ()) -> Service:
    """A SeaweedFS server of its own: ``weed <role>`` on ``port`` (gRPC +10000) keeping its files in ``folder``;
    up when ``health`` answers (200, or anything for "/")."""
    def command() -> list[str]:
        folder.mkdir(parents=True, exist_ok=True)
        return _weed(settings, role, f"-port={port}", f"-port.grpc={port + 10000}", f"{folder_flag}={folder}", *flags)

    def healthy() -> bool:
        status = http_status(f"http://{settings.host}:{port}{health}")
        return status is not None if health == "/" else status == 200

    return Service(name, [port, port + 10000], command, healthy, url=f"http://{settings.host}:{port}",
                   start_timeout=60, marker=f"{folder_flag}={folder}", group="s3", needs=needs, settings=settings)


def _weed_master(settings: Settings) -> Service:
    cfg = settings.env.services.s3
    return _weed_member(settings, "s3-master", "master", cfg.master_port, "-mdir", settings.s3_data_dir / "master",
                        f"-defaultReplication={cfg.replication}", "-volumeSizeLimitMB=1024", "-electionTimeout=1s",
                        health="/cluster/status")


def _weed_volume(settings: Settings, n: int) -> Service:
    """Volume server ``n`` (1-based): its own port and folder, as on a host of its own."""
    cfg = settings.env.services.s3
    # -max=0: as many volumes as the disk holds; 2 s for clients to move away before it stops
    return _weed_member(settings, f"s3-volume-{n}", "volume", cfg.volume_port + n - 1, "-dir",
                        settings.s3_data_dir / f"volume-{n}", f"-mserver={settings.host}:{cfg.master_port}", "-max=0",
                        "-preStopSeconds=2", health="/status", needs=("s3-master",))


def _weed_filer(settings: Settings) -> Service:
    cfg = settings.env.services.s3
    return _weed_member(settings, "s3-filer", "filer", cfg.filer_port, "-defaultStoreDir",
                        settings.s3_data_dir / "filer", f"-master={settings.host}:{cfg.master_port}",
                        f"-defaultReplicaPlacement={cfg.replication}", needs=("s3-master",))


def _s3_gateway(settings: Settings) -> Service:
    cfg = settings.env.services.s3
    identities = settings.s3_data_dir / "s3-identities.json"

    def command() -> list[str]:
        return _weed(settings, "s3", f"-port={cfg.port}", f"-port.grpc={cfg.port + 10000}",
                     f"-filer={settings.host}:{cfg.filer_port}", f"-config={identities}",
                     "-port.iceberg=0", "-port.lance=0")  # REST catalogs we do not use

    return Service("s3", [cfg.port, cfg.port + 10000], command,
                   lambda: http_status(f"http://{settings.host}:{cfg.port}/") is not None,
                   url=f"http://{settings.host}:{cfg.port}", prepare=lambda: _write_identities(settings, identities),
                   set_up=lambda: _s3_set_up(settings), start_timeout=60, marker=f"-config={identities}", group="s3",
                   needs=("s3-filer",), settings=settings)
