"""Object storage through the plain S3 API (the `minio` SDK), so any S3 works."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import urlparse

from minio import Minio
from minio.error import S3Error

from lakehouse.settings import Settings, get_settings


def client(settings: Settings | None = None) -> Minio:
    settings = settings or get_settings()
    url = urlparse(settings.s3_endpoint)
    return Minio(url.netloc, access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                 secure=url.scheme == "https", region=settings.env.storage.region)


def ensure_bucket(settings: Settings | None = None) -> None:
    """Create the lake bucket if it does not exist yet."""
    settings = settings or get_settings()
    s3 = client(settings)
    if not s3.bucket_exists(settings.bucket):
        s3.make_bucket(settings.bucket)
        print(f"[lake] s3: created bucket {settings.bucket}", flush=True)


def put_bytes(key: str, data: bytes, settings: Settings | None = None,
              content_type: str = "application/octet-stream") -> str:
    """Write one object; returns its sha256 so callers can tell identical re-landings apart."""
    settings = settings or get_settings()
    client(settings).put_object(settings.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
    return hashlib.sha256(data).hexdigest()


def exists(key: str, settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    try:
        client(settings).stat_object(settings.bucket, key)
        return True
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
            return False
        raise


def list_keys(prefix: str, settings: Settings | None = None) -> list[str]:
    settings = settings or get_settings()
    return [o.object_name for o in client(settings).list_objects(settings.bucket, prefix=prefix, recursive=True)]
