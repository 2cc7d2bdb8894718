"""The landing zone: a folder or an S3 prefix where people and services drop bar files.

Files in it are immutable inputs: the platform reads them and never edits, moves or deletes them.
Landing a file never overwrites another: the same bytes under the same name are recognised as already
landed, different bytes get a name with their content hash. Arrival order (modification time, then
key) is the order in which corrections apply: a later file's row for a (symbol, date) wins.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from quant_assets.sources.layouts import SUPPORTED_SUFFIXES, ParsedFile, parse_bar_file


@dataclass(frozen=True)
class LandedFile:
    """One file in the zone; ``fingerprint`` changes whenever its content could have changed."""

    key: str
    size: int
    modified: float
    fingerprint: str


def is_bar_file(key: str) -> bool:
    name = PurePosixPath(key).name
    return not name.startswith(".") and name.lower().endswith(SUPPORTED_SUFFIXES)


def _content_name(name: str, data: bytes) -> str:
    """``AAPL.csv`` -> ``AAPL.<sha8>.csv``: the file name still gives the symbol."""
    path = PurePosixPath(name)
    digest = hashlib.sha256(data).hexdigest()[:8]
    suffix = ".csv.gz" if name.lower().endswith(".csv.gz") else path.suffix
    return f"{name[: -len(suffix)] if suffix else name}.{digest}{suffix}"


class LandingZone(Protocol):
    uri: str

    def list_files(self) -> list[LandedFile]: ...

    def read(self, key: str) -> bytes: ...

    def land(self, name: str, data: bytes) -> str: ...

    def location(self, key: str) -> str: ...


class FolderLandingZone:
    """A folder, searched recursively (``landing/api/...``, ``landing/cli/...``, anything a user drops)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.uri = str(self.root)

    def list_files(self) -> list[LandedFile]:
        if not self.root.exists():
            return []
        files = []
        for path in self.root.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and is_bar_file(key) and not any(p.startswith(".") for p in path.parts[-2:-1]):
                stat = path.stat()
                files.append(
                    LandedFile(key, stat.st_size, stat.st_mtime, f"{stat.st_size}-{stat.st_mtime_ns}")
                )
        return sorted(files, key=lambda f: (f.modified, f.key))

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def location(self, key: str) -> str:
        return str(self.root / key)

    def land(self, name: str, data: bytes) -> str:
        """Write ``data`` as ``name`` (relative path) without ever replacing an existing file."""
        target = self.root / name
        if target.exists():
            if target.read_bytes() == data:
                return name
            name = _content_name(name, data)
            target = self.root / name
            if target.exists():
                return name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        try:
            os.link(tmp, target)  # fails if the name was taken meanwhile: never overwrite
        except FileExistsError:
            tmp.unlink()
            return self.land(name, data)
        tmp.unlink()
        return name


class S3LandingZone:
    """A prefix in a bucket on any S3 endpoint (AWS, MinIO...), through a boto3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.uri = f"s3://{bucket}/{self.prefix}"

    def list_files(self) -> list[LandedFile]:
        files = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if is_bar_file(key):
                    modified = item["LastModified"].timestamp()
                    files.append(LandedFile(key, item["Size"], modified, item["ETag"].strip('"')))
        return sorted(files, key=lambda f: (f.modified, f.key))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _existing(self, key: str) -> bytes | None:
        """The object's bytes, or None if absent or unreadable to us (a put-only landing policy answers
        403 to reads); the conditional put below still refuses to overwrite."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("AccessDenied", "403", "404", "NoSuchKey"):
                return None
            raise

    def land(self, name: str, data: bytes) -> str:
        existing = self._existing(name)
        if existing is not None:
            if existing == data:
                return name
            name = _content_name(name, data)
            if self._existing(name) is not None:
                return name
        try:  # IfNoneMatch makes the write conditional where the endpoint supports it
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data, IfNoneMatch="*")
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise
            return self.land(name, data)
        return name


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, prefix)."""
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"landing zone {uri!r}: an S3 URI needs a bucket, e.g. s3://my-bucket/landing")
    return bucket, prefix


def read_landed(zone: LandingZone, landed: LandedFile) -> ParsedFile:
    """Parse one landed file; errors name its full location (path or s3:// URI)."""
    return parse_bar_file(zone.read(landed.key), zone.location(landed.key))
