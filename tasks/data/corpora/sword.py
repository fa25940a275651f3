"""Plain text out of SWORD zText / zCom / zCom4 modules (the format of Debian's sword-* packages).

A testament is three files: `.?zs` lists compressed blocks (u32 offset, u32 compressed size,
u32 raw size), `.?zz` holds the zlib-compressed blocks, `.?zv` indexes every verse as (u32 block,
u32 offset in the raw block, u16 size) or, in the "4" drivers, a u32 size. A block is a book or a
chapter (the module's BlockType), which makes it a natural document for a by-document split. The
entry width is checked against the data rather than trusted from the .conf: Debian's MHCC says
zCom4 but is written with 10-byte entries.

The text is OSIS (or ThML) markup; `osis_to_text` keeps the words and drops the tags and footnotes.
"""
from __future__ import annotations

import html
import re
import struct
import zlib
from dataclasses import dataclass

TESTAMENTS = ("ot", "nt")
_ENTRY_FORMATS = {10: "<IIH", 12: "<III"}  # verse-index entry width -> (block, offset, size)


@dataclass(frozen=True)
class SwordSection:
    section_id: str  # "ot/001-Gen": testament, block number, first osisID in the block
    markup: str


def parse_sword_conf(text: str) -> dict[str, str]:
    """A module's mods.d/*.conf as {key: first value}, plus "Name" from its [section] line."""
    conf: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]") and "Name" not in conf:
            conf["Name"] = line[1:-1]
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            conf.setdefault(key.strip(), value.strip())
    return conf


def read_sword_sections(conf: dict[str, str], files: dict[str, bytes]) -> list[SwordSection]:
    """One section per compressed block of each testament. `files` maps a name inside the module's
    DataPath folder (e.g. "ot.bzs") to its bytes."""
    if conf.get("CompressType", "ZIP").upper() != "ZIP":
        raise ValueError(f"SWORD module {conf.get('Name')}: only zlib (CompressType=ZIP) is supported")
    declared_width = 12 if conf.get("ModDrv", "").endswith("4") else 10
    sections = []
    for testament in TESTAMENTS:
        names = {name[-1]: name for name in files if re.fullmatch(rf"{testament}\.[a-z]z[svz]", name)}
        if set(names) != {"s", "v", "z"} or not files[names["s"]]:
            continue  # a module may cover one testament only (Treasury of David: Psalms)
        blocks = _decompress_blocks(files[names["s"]], files[names["z"]])
        entries = _verse_entries(files[names["v"]], blocks, declared_width)
        for block_number, markup in _join_entries_by_block(entries, blocks, conf.get("Encoding", "UTF-8")):
            first_id = re.search(r'osisID="([^"\s]+)', markup)
            label = re.sub(r"[^A-Za-z0-9._-]", "_", first_id.group(1)) if first_id else "front"
            sections.append(SwordSection(f"{testament}/{block_number:03d}-{label}", markup))
    return sections


def _decompress_blocks(block_index: bytes, data: bytes) -> list[bytes]:
    blocks = []
    for offset, size, _raw_size in struct.iter_unpack("<III", block_index):
        blocks.append(zlib.decompress(data[offset:offset + size]) if size else b"")
    return blocks


def _verse_entries(verse_index: bytes, blocks: list[bytes], declared_width: int) -> list[tuple[int, int, int]]:
    for width in (declared_width, 22 - declared_width):
        if len(verse_index) % width:
            continue
        entries = list(struct.iter_unpack(_ENTRY_FORMATS[width], verse_index))
        if all(size == 0 or (block < len(blocks) and offset + size <= len(blocks[block]))
               for block, offset, size in entries):
            return entries
    raise ValueError("SWORD verse index fits neither the 10- nor the 12-byte entry layout")


def _join_entries_by_block(entries, blocks, encoding: str):
    """(block number, that block's verses in order, space-joined). Linked verses (commentaries point
    several verses at one entry) are kept once; joining with a space keeps verse-final and
    verse-initial words apart where the markup has no space between them."""
    unique = sorted({(block, offset, size) for block, offset, size in entries if size})
    by_block: dict[int, list[str]] = {}
    for block, offset, size in unique:
        raw = blocks[block][offset:offset + size]
        by_block.setdefault(block, []).append(raw.decode(encoding, errors="replace"))
    return [(block, " ".join(parts)) for block, parts in sorted(by_block.items())]


_NOTE = re.compile(r"<note\b[^>]*(?<!/)>.*?</note>", re.S | re.I)  # footnotes: not running text
_BREAK_TAG = re.compile(
    r"</?(?:div|p|title|head|lg|l|lb|br|chapter|table|row|list|item)\b[^>]*>", re.I
)
_CELL_TAG = re.compile(r"</?cell\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" +([,.;:!?)\]’”])")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def osis_to_text(markup: str) -> str:
    """OSIS/ThML markup to plain text: block elements become line breaks, footnotes are dropped,
    inline tags (words with Strong's numbers, italics, quotes) keep only their words."""
    text = _NOTE.sub(" ", markup)
    text = _BREAK_TAG.sub("\n", text)
    text = _CELL_TAG.sub(" ", text)
    text = _ANY_TAG.sub("", text)
    text = html.unescape(text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    lines = (line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n", "\n".join(line for line in lines if line)).strip()
