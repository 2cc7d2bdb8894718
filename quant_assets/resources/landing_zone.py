"""The landing zone as a Dagster resource: a local folder or an S3 prefix on any S3 endpoint.

``uri`` is a path (``/data/landing``) or ``s3://bucket/prefix``; for S3 the client comes from
dagster-aws's ``S3Resource`` (credentials from the usual AWS variables, ``endpoint_url`` for MinIO or
any other S3-compatible store).
"""

from __future__ import annotations

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource

from quant_assets.sources.landing_cache import LandingParseCache
from quant_assets.sources.landing_zone import FolderLandingZone, LandingZone, S3LandingZone, parse_s3_uri


class LandingZoneResource(ConfigurableResource):
    uri: str
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # Where parses of landed files are kept so each file is read once (None: parse every file each run).
    parse_cache_dir: str | None = None

    def parse_cache(self) -> LandingParseCache | None:
        return LandingParseCache(self.parse_cache_dir) if self.parse_cache_dir else None

    def open(self) -> LandingZone:
        if self.uri.startswith("s3://"):
            bucket, prefix = parse_s3_uri(self.uri)
            client = S3Resource(endpoint_url=self.s3_endpoint_url, region_name=self.s3_region).get_client()
            return S3LandingZone(client, bucket, prefix)
        return FolderLandingZone(self.uri)
