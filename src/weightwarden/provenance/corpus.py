"""A corpus on disk, read as a stream: plain text, Markdown, JSONL (one document a line) and gzip of either.

A multi-GB corpus never sits in memory: text files come in blocks of about a megabyte, cut at whitespace so no word is
split, and JSONL one line at a time. Binary files (a NUL byte, or not UTF-8) are skipped and listed, never read as text.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from weightwarden.provenance.base import CorpusError

BLOCK_CHARS = 1 << 20
SNIFF_BYTES = 8192
TEXT_FIELDS = ("text", "content", "document", "body")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
_MAGIC = {
    b"%PDF": "a PDF: extract its text first (for example with pdftotext)",
    b"PK\x03\x04": "a zip archive: unpack it first",
    b"GGUF": "a model file, not text",
    b"\x89PNG": "an image",
    b"\xff\xd8\xff": "an image",
}


@dataclass(frozen=True)
class Block:
    """Consecutive text of one document; first is True for a document's first block (n-grams never span documents)."""

    doc: str
    text: str
    first: bool


@dataclass
class CorpusStats:
    files: int = 0
    documents: int = 0
    chars: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "documents": self.documents,
            "chars": self.chars,
            "skipped": [{"file": f, "why": w} for f, w in self.skipped],
        }


def text_of(record: Any) -> str | None:
    """The text of one JSON record: a string, or the first of text/content/document/body, or question + answer."""
    if isinstance(record, str):
        return record
    if not isinstance(record, dict):
        return None
    for name in TEXT_FIELDS:
        if isinstance(record.get(name), str):
            return str(record[name])
    if isinstance(record.get("question"), str):
        parts = [record["question"]]
        choices = record.get("choices")
        if isinstance(choices, list):
            parts.extend(str(c) for c in choices)
        if record.get("answer") is not None:
            parts.append(str(record["answer"]))
        return "\n".join(parts)
    return None


class Corpus:
    """The text files under a folder (or one file), in a stable order; hidden files and folders are left out."""

    def __init__(self, path: Path, block_chars: int = BLOCK_CHARS) -> None:
        self.path = Path(path).expanduser()
        self.block_chars = block_chars
        self.stats = CorpusStats()
        if not self.path.exists():
            raise CorpusError(f"no such file or folder: {self.path} (check the path)")
        if self.path.is_dir():
            self.files = sorted(
                p
                for p in self.path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.path).parts)
            )
        else:
            self.files = [self.path]
        if not self.files:
            raise CorpusError(f"{self.path} holds no files: point at a folder of .txt, .md or .jsonl documents")

    def _name(self, file: Path) -> str:
        return str(file.relative_to(self.path)) if self.path.is_dir() else file.name

    def _open(self, file: Path) -> IO[bytes] | None:
        """The file's bytes (decompressed for .gz), or None after recording why it is skipped."""
        name = self._name(file)
        try:
            # closed by the caller (through the returned reader) or below when skipped
            raw = cast(IO[bytes], gzip.open(file, "rb") if file.suffix == ".gz" else file.open("rb"))  # noqa: SIM115
            head = raw.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            self.stats.skipped.append((name, f"cannot be read: {exc}"))
            return None
        why = next((w for magic, w in _MAGIC.items() if head.startswith(magic)), None)
        if why is None and b"\x00" in head:
            why = "binary (it has NUL bytes)"
        if why is None:
            sniff = head.decode("utf-8", errors="replace")
            if sniff.count("\ufffd") > max(3, len(sniff) // 100):
                why = "not UTF-8 text"
        if why is not None:
            raw.close()
            self.stats.skipped.append((name, why))
            return None
        return io.BufferedReader(_Rewound(head, raw))

    def blocks(self) -> Iterator[Block]:
        """Every document's text in blocks of about block_chars characters; raises CorpusError if there is none."""
        self.stats = CorpusStats()
        for file in self.files:
            stream = self._open(file)
            if stream is None:
                continue
            self.stats.files += 1
            name = self._name(file)
            with stream:
                jsonl = file.name.removesuffix(".gz").endswith(JSONL_SUFFIXES)
                yield from (self._jsonl(stream, name) if jsonl else self._text(stream, name))
        if self.stats.chars == 0:
            skipped = "; ".join(f"{f}: {w}" for f, w in self.stats.skipped[:5])
            raise CorpusError(
                f"{self.path} holds no readable text{' (skipped ' + skipped + ')' if skipped else ''}: "
                "give plain-text, Markdown or JSONL files"
            )

    def _text(self, stream: IO[bytes], name: str) -> Iterator[Block]:
        reader = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        carry, first = "", True
        while True:
            chunk = reader.read(self.block_chars)
            text = carry + chunk
            if not chunk:
                break
            cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
            if cut <= 0:
                if len(text) < 4 * self.block_chars:
                    carry = text
                    continue
                cut = len(text)  # no whitespace for megabytes: cut inside a word rather than hold it all
            carry = text[cut:]
            if text[:cut].strip():
                self.stats.chars += cut
                yield Block(name, text[:cut], first)
                first = False
        if text.strip():
            self.stats.chars += len(text)
            yield Block(name, text, first)
            first = False
        if not first:
            self.stats.documents += 1

    def _jsonl(self, stream: IO[bytes], name: str) -> Iterator[Block]:
        bad = 0
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                text = text_of(json.loads(line))
            except ValueError:
                text = None
            if not text or not text.strip():
                bad += 1
                continue
            self.stats.documents += 1
            self.stats.chars += len(text)
            yield Block(f"{name}:{number}", text, True)
        if bad:
            self.stats.skipped.append((name, f"{bad} line(s) without a JSON text, content or question field"))

    def documents(self, max_chars: int = 200_000) -> Iterator[tuple[str, str]]:
        """Whole documents (the first max_chars characters of each), for checks that need a document at once."""
        doc, size = "", 0
        parts: list[str] = []
        for block in self.blocks():
            if block.first and parts:
                yield doc, "".join(parts)
                parts, size = [], 0
            if block.first:
                doc = block.doc
            if size < max_chars:
                parts.append(block.text[: max_chars - size])
                size += len(parts[-1])
        if parts:
            yield doc, "".join(parts)


class _Rewound(io.RawIOBase):
    """A byte stream with its sniffed head put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._rest.close()
        super().close()
