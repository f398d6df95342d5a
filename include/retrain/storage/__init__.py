"""Object storage: the `ObjectStore` protocol and its errors (protocol.py), the S3 implementation
(s3.py, the only boto3/S3Hook code), an in-memory one for unit tests (memory.py) and verified model
artifacts (integrity.py)."""

from retrain.storage.protocol import (  # noqa: F401
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    dumps_json,
    sha256_hex,
)
from retrain.storage.s3 import S3Store  # noqa: F401
