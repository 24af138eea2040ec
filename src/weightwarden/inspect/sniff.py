"""Recognition before analysis: what a file looks like from its first bytes, and whether a loader would unpickle it.

A file named model.bin that holds six bytes of text is not a malformed pickle: it is not a model file, and saying
"it looks like text" helps more than five pickle findings. The pickle scanner runs only on files that start a
pickle by their opcodes (a PROTO header, or protocol 0/1 opcodes that import a name or reach STOP) and on zip
archives with a pickle inside (what torch.load reads).
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

from weightwarden.inspect.pickle_vm import looks_like_pickle

HEAD_BYTES = 64 * 1024  # enough for a protocol 0/1 pickle to reach its first import or STOP

# (magic at offset 0, what it is); checked in order
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive with no pickle inside"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"MZ", "a Windows executable"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras .h5 weights are not read by this version)"),
    (b"\x93NUMPY", "a NumPy array (.npy), not a model"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def _text(head: bytes) -> str | None:
    """What a text file is, or None when the bytes are not text."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return None
        text = head[: exc.start].decode("utf-8")
    printable = sum(c.isprintable() or c in "\t\r\n" for c in text)
    if not text or printable < 0.95 * len(text):
        return None
    start = text.lstrip()[:64].lower()
    if start.startswith("version https://git-lfs"):
        return "a Git LFS pointer (text): the weights were never downloaded; run `git lfs pull`"
    if start.startswith(("<!doctype html", "<html")):
        return "an HTML page (text): perhaps a download that returned a web page instead of the file"
    if start.startswith(("{", "[")):
        return "JSON text"
    if start.startswith("<?xml"):
        return "XML text"
    return "text"


def looks_like(head: bytes) -> str:
    """What the bytes look like, in words: "text", "a zip archive ...", "a PNG image", "binary data ..."."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "a tar archive"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return _text(head) or "binary data of no format weightwarden knows"


def opens_as_pickle(head: bytes, truncated: bool) -> bool:
    """True when pickle.load would start running these bytes: a PROTO header, or opcodes that import or finish.

    truncated: head is only the start of a longer file (a long protocol-0 pickle may run past it).
    """
    if looks_like_pickle(head):
        return True
    last = 0
    try:
        for op, _arg, pos in pickletools.genops(io.BytesIO(head)):
            last = pos or 0
            if op.name in ("GLOBAL", "INST", "STACK_GLOBAL", "STOP"):
                return True
    except (ValueError, EOFError, UnicodeDecodeError, IndexError):
        return truncated and last > len(head) - 1024  # parsed clean to the end of the sample
    return False


def zip_has_pickle(path: Path) -> bool:
    """True for a zip archive that torch.load would unpickle from (a .pkl member such as archive/data.pkl)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith(".pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
        return True  # a damaged zip that claims to be one: let the scanner report the damage
