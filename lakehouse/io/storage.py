"""Object storage through the plain S3 API (the `minio` SDK), so any S3 works."""

from __future__ import annotations

import hashlib
import io
import shutil
from contextlib import contextmanager
from urllib.parse import urlparse

import urllib3  # the minio SDK's HTTP client: its connection errors are urllib3's
from minio import Minio
from minio.error import S3Error

from lakehouse.core.errors import StorageError
from lakehouse.core.settings import Settings


def client(settings: Settings) -> Minio:
    url = urlparse(settings.s3_endpoint)
    return Minio(url.netloc, access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                 secure=url.scheme == "https", region=settings.env.storage.region)


def ensure_bucket(settings: Settings) -> None:
    """Create the lake bucket if it does not exist yet."""
    s3 = client(settings)
    if not s3.bucket_exists(settings.bucket):
        s3.make_bucket(settings.bucket)
        print(f"[lake] s3: created bucket {settings.bucket}", flush=True)


def ensure_usable(settings: Settings, timeout: float = 60.0) -> None:
    """Wait until objects can be written, read and deleted (a restarted SeaweedFS answers HTTP before its
    master knows the volume server: until then every object operation is 'Service Unavailable')."""
    import time

    s3 = client(settings)
    key, deadline = "_lake/ready", time.monotonic() + timeout
    while True:
        try:
            s3.put_object(settings.bucket, key, io.BytesIO(b"ok"), 2)
            resp = s3.get_object(settings.bucket, key)
            try:
                resp.read()
            finally:
                resp.close()
                resp.release_conn()
            s3.remove_object(settings.bucket, key)
            return
        except Exception as exc:  # S3Error 503s, and connection errors while it settles
            if time.monotonic() > deadline:
                raise RuntimeError(f"S3 at {settings.s3_endpoint} answers but cannot store objects after "
                                   f"{timeout:.0f}s: {exc}") from exc
            time.sleep(0.5)


LOW_DISK_BYTES = 64 * 2**20  # less free space than this on the S3 server's disk is named as the cause


@contextmanager
def _storing(key: str, settings: Settings):
    """Turn a refused write into a sentence: which object, what S3 said, and, for the stack's own S3
    server, whether its disk is full and how to recover. S3 writes an object whole or not at all."""
    try:
        yield
    except (S3Error, urllib3.exceptions.HTTPError) as exc:
        said = f"{exc.code}: {exc.message}" if isinstance(exc, S3Error) else str(getattr(exc, "reason", "") or exc)
        unreachable = isinstance(exc, urllib3.exceptions.NewConnectionError) or isinstance(
            getattr(exc, "reason", None), urllib3.exceptions.NewConnectionError)
        if unreachable:
            said = "nothing answers there (connection refused)"
        message = (f"S3 at {settings.s3_endpoint} did not store s3://{settings.bucket}/{key}: {said}; "
                   "nothing of it was stored.")
        data_dir = settings.s3_data_dir
        own = not settings.env.storage.endpoint  # the stack's own S3 server
        if unreachable:
            message += (" Start it with `lake up s3` (`lake status` shows what runs)." if own
                        else " Is it running, and is storage.endpoint in the environment file right?")
        elif own and data_dir.is_dir():
            free = shutil.disk_usage(data_dir).free
            if free < LOW_DISK_BYTES:
                message += (f" The S3 server's disk is full: {free:,} bytes free in {data_dir}. Free space "
                            "there, restart the server (`lake down s3 && lake up s3`: after a full disk it "
                            "refuses writes until it is restarted), then run the same command again.")
            else:
                message += f" The S3 server's log: {settings.state_dir / 'logs' / 's3.log'}."
        else:
            message += " A full disk on the S3 server is the usual cause of an internal error on a write."
        raise StorageError(message) from exc


def put_bytes(key: str, data: bytes, settings: Settings,
              content_type: str = "application/octet-stream") -> str:
    """Write one object; returns its sha256 so callers can tell identical re-landings apart."""
    with _storing(key, settings):
        client(settings).put_object(settings.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
    return hashlib.sha256(data).hexdigest()


def exists(key: str, settings: Settings) -> bool:
    try:
        client(settings).stat_object(settings.bucket, key)
        return True
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
            return False
        raise


def list_keys(prefix: str, settings: Settings) -> list[str]:
    return [o.object_name for o in client(settings).list_objects(settings.bucket, prefix=prefix, recursive=True)]


def put_file(key: str, path, settings: Settings) -> None:
    """Upload a local file (streamed, so a large file is never held in memory)."""
    with _storing(key, settings):
        client(settings).fput_object(settings.bucket, key, str(path))


def list_objects(prefix: str, settings: Settings) -> dict[str, str]:
    """Keys under ``prefix`` with their ETags (which change when the content does)."""
    return {o.object_name: (o.etag or "").strip('"')
            for o in client(settings).list_objects(settings.bucket, prefix=prefix, recursive=True)}


def fetcher(settings: Settings):
    """``fetch(uri, length)``: the first ``length`` bytes (or all) of an ``s3a://bucket/key`` object."""
    s3 = client(settings)

    def fetch(uri: str, length: int | None = None) -> bytes:
        bucket, key = urlparse(uri).netloc, urlparse(uri).path.lstrip("/")
        resp = s3.get_object(bucket, key, offset=0, length=length or 0)
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()
    return fetch


class S3Blob:
    """A landed object as the file checks read it (``filecheck.Blob``): its head, its tail, or all of it streamed."""

    def __init__(self, key: str, settings: Settings):
        self.settings = settings
        self.key = key
        self.name = key.rsplit("/", 1)[-1]
        self._s3 = client(self.settings)
        self.size = self._s3.stat_object(self.settings.bucket, key).size

    def _get(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        resp = self._s3.get_object(self.settings.bucket, self.key, offset=offset, length=length)
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    def head(self, n: int) -> bytes:
        return self._get(0, min(n, self.size))

    def tail(self, n: int) -> bytes:
        n = min(n, self.size)
        return self._get(self.size - n, n)

    def chunks(self, size: int = 1 << 20):
        if self.size == 0:
            return
        resp = self._s3.get_object(self.settings.bucket, self.key)
        try:
            yield from resp.stream(size)
        finally:
            resp.close()
            resp.release_conn()

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


def move(key: str, target: str, settings: Settings) -> None:
    """Move one object within the bucket (a copy, then the original removed)."""
    from minio.commonconfig import CopySource

    s3 = client(settings)
    with _storing(target, settings):
        s3.copy_object(settings.bucket, target, CopySource(settings.bucket, key))
    s3.remove_object(settings.bucket, key)


def delete_prefix(prefix: str, settings: Settings) -> int:
    """Remove every object under ``prefix``; returns how many."""
    from minio.deleteobjects import DeleteObject

    s3 = client(settings)
    keys = [DeleteObject(k) for k in list_keys(prefix, settings)]
    errors = list(s3.remove_objects(settings.bucket, keys))
    if errors:
        raise RuntimeError(f"could not delete {len(errors)} objects under {prefix}: {errors[0]}")
    return len(keys)
