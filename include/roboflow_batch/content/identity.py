"""What makes two objects "the same content", per store, and the 16-byte digest the record keeps.

Identities come from what a listing already returns (no extra request per object):

- S3: the ETag with the size. A single-part upload or copy has the MD5 of its bytes as ETag (with no
  encryption or SSE-S3), so a re-upload of the same file, an in-place copy and a metadata-only
  rewrite (``aws s3 cp s3://b/k s3://b/k --metadata x=y``, a CopyObject) keep it. A multipart
  upload's ETag is the MD5 of its parts' MD5s plus ``-<parts>``: the same bytes match only when
  uploaded with the same part size (``aws s3 cp`` switches to multipart at 8 MiB, for copies too).
  SSE-KMS and SSE-C ETags are not MD5s and differ per upload: such objects are never matched.
- GCS: ``md5Hash`` with the size; composite objects have none, only ``crc32c``, which is too short
  to stand for content on its own: it counts only together with the object name and size (an
  in-place rewrite matches, a copy under another name does not).
- Local files: the SHA-256 of the bytes (``content.file_hashes``).

An identity never matches different bytes (short of an MD5 collision); it may miss equal bytes
(then they are processed again, as before this record existed). Objects without one are always sent.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

#: Bytes of a content digest; 128 bits keep an accidental match out of reach at any record size.
DIGEST_BYTES = 16
DIGEST_DTYPE = np.dtype(f"S{DIGEST_BYTES}")
Digests = npt.NDArray[np.bytes_]


def s3_content(etag: object) -> str | None:
    """The content part of an S3 object's identity, from its listed ETag (quotes removed)."""
    if not isinstance(etag, str) or not etag.strip('"'):
        return None
    return "s3-etag:" + etag.strip('"').lower()


def gcs_content(name: str, md5_hash: object, crc32c: object) -> str | None:
    """The content part of a GCS object's identity: its MD5, else its CRC32C tied to its name."""
    if isinstance(md5_hash, str) and md5_hash:
        return "gcs-md5:" + md5_hash
    if isinstance(crc32c, str) and crc32c:
        return f"gcs-crc32c:{crc32c}:{name}"
    return None


def local_content(sha256_hex: str) -> str:
    return "sha256:" + sha256_hex


def content_digest(content: str, size: int) -> bytes:
    """The record's key for ``content`` (an identity above) of ``size`` bytes."""
    return hashlib.blake2b(f"{content}\0{size}".encode(), digest_size=DIGEST_BYTES).digest()


def as_digests(values: list[bytes]) -> Digests:
    return np.array(values, dtype=DIGEST_DTYPE) if values else np.empty(0, dtype=DIGEST_DTYPE)
