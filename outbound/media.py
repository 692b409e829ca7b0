"""Recognising uploaded images by their bytes, not by what the client claims."""

import hashlib

_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image_mimetype(head: bytes) -> str | None:
    """The image type of a file starting with `head` (16+ bytes), or None."""
    for signature, mimetype in _SIGNATURES:
        if head.startswith(signature):
            return mimetype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def file_sha256(upload) -> str:
    """SHA-256 of an uploaded file, leaving it rewound for the next reader."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()
