"""The S3 server of the stack: SeaweedFS, its identities file, and its bucket set up once it answers."""

from __future__ import annotations

import json
import time

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


def _s3_service(settings: Settings) -> Service:
    cfg = settings.env.services.s3
    data_dir = settings.s3_data_dir
    s3_config = data_dir / "s3-identities.json"

    def prepare() -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        identities = {"identities": [{
            "name": "lake",
            "credentials": [{"accessKey": settings.s3_access_key, "secretKey": settings.s3_secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        s3_config.write_text(json.dumps(identities, indent=2))
        s3_config.chmod(0o600)

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

    def set_up() -> None:
        from lakehouse.io.storage import ensure_bucket, ensure_usable
        ensure_bucket(settings)
        ensure_usable(settings)  # up means objects can be stored, not only that the ports answer

    # each server's port and its gRPC port (+10000), the S3 API's included
    ports = [cfg.port, cfg.master_port, cfg.volume_port, cfg.filer_port,
             cfg.port + 10000, cfg.master_port + 10000, cfg.volume_port + 10000, cfg.filer_port + 10000]
    return Service("s3", ports, command, healthy, url=f"http://{settings.host}:{cfg.port}",
                   prepare=prepare, set_up=set_up, start_timeout=90, marker="weed", group="s3",
                   # On SIGTERM weed stops its volume server before its filer, whose last metadata-log flush
                   # then retries against the closed volumes for 15 s and is dropped anyway. The volume server
                   # closes its ports, then its files (well under a second; what it stored was written to them
                   # when it was acknowledged): SIGKILL half a second after its ports close, at most 5 s in.
                   stop_timeout=S3_STOP_TIMEOUT, stop_done=volume_closed(settings, cfg.volume_port),
                   stop_note="its volume server has closed; the filer would wait 15 s to write its change log "
                   "to it", settings=settings)
