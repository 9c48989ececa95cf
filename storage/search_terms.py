"""How text becomes search terms, the same for the index and for a query, so that MySQL 8,
MariaDB and SQLite match alike with only the full-text SQL all of them accept.

The databases' own tokenizers cannot be trusted with chat text: MariaDB has no n-gram parser,
so CJK text without spaces is one huge token; InnoDB drops tokens shorter than
`innodb_ft_min_token_size` (3) and the words of its stopword list ("to", "it", "who"); its
collation decides what a letter is. So the application writes the terms itself, and every term
is plain ASCII letters and digits of 3 to 82 characters, which no parser splits or drops:

- the text is NFKC-normalized and case-folded;
- a word (a run of letters and digits) made of ASCII only becomes "qw" + the word, cut at 40
  characters ("qwa" for "a", "qwthe" for "the": no stopword starts with "q");
- any other word becomes "qx" + the hex of its UTF-8, cut at 40 bytes;
- a run of CJK characters (Han, kana, Hangul) gives each character and each overlapping pair of
  characters as a term ("qx" + hex): a query of one CJK character matches the unigram, a longer
  one all of its pairs.

A query matches the messages that hold all of its terms: whole words, in any order.

Each message's terms also name its conversation ("qc" + the id), so that a search narrows its
matches to the caller's conversations inside the full-text index (storage.search) instead of
reading every match of a common word in every conversation."""

import json
import re
import unicodedata

from storage.tables import MSG_TEXT

_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
# A CJK run, or a word: letters and digits that are not CJK (the class is \w without "_" and
# CJK; a lookahead per character instead took 40% more of a 100-character message's time).
_RUNS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
_WORD_CHARS = 40
_HEX_BYTES = 40


def searchable_text(msg_type: int, content: str) -> str:
    """What a message is found by: a text message's content, an image or file message's file
    name (its content is the JSON of a file reference, PROTOCOL §2)."""
    if msg_type == MSG_TEXT:
        return content
    try:
        name = json.loads(content).get("name")
    except (ValueError, AttributeError):
        return ""
    return name if isinstance(name, str) else ""


def message_terms(conversation_id: int, text: str) -> str:
    """What `message_search` holds for a message of `conversation_id` saying `text`: its
    conversation's term and the text's terms; "" when the text has none (no row then)."""
    terms = index_terms(text)
    return f"{conversation_term(conversation_id)} {terms}" if terms else ""


def conversation_term(conversation_id: int) -> str:
    return f"qc{conversation_id}"


def index_terms(text: str) -> str:
    """The terms of stored text, each once, space-separated; "" when it has none."""
    terms: dict[str, None] = {}
    for cjk, word in _RUNS.findall(_normalized(text)):
        if word:
            terms[_word_term(word)] = None
        else:
            for index, char in enumerate(cjk):
                terms[_hex_term(char)] = None
                if index + 1 < len(cjk):
                    terms[_hex_term(cjk[index : index + 2])] = None
    return " ".join(terms)


def query_terms(query: str) -> list[str]:
    """The terms a message must all hold to match `query`, each once, in query order."""
    terms: dict[str, None] = {}
    for cjk, word in _RUNS.findall(_normalized(query)):
        if word:
            terms[_word_term(word)] = None
        elif len(cjk) == 1:
            terms[_hex_term(cjk)] = None
        else:
            for index in range(len(cjk) - 1):
                terms[_hex_term(cjk[index : index + 2])] = None
    return list(terms)


def match_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where `query`'s words and CJK characters occur in `text`, as sorted, disjoint
    (start, end) character ranges of `text` itself (not of its normalized form)."""
    wanted_words = set()
    wanted_cjk = []
    for cjk, word in _RUNS.findall(_normalized(query)):
        if word:
            wanted_words.add(_word_term(word))
        else:
            wanted_cjk += [cjk] if len(cjk) == 1 else [cjk[i : i + 2] for i in range(len(cjk) - 1)]
    spans = []
    for match in _RUNS.finditer(text):
        start, end = match.span()
        normalized = _normalized(match.group())
        if match.group(2) is not None:
            # NFKC may turn one character into several ("ﬁ"), or a word into CJK: judged whole.
            if any(_word_term(word) in wanted_words for _, word in _RUNS.findall(normalized) if word):
                spans.append((start, end))
        elif len(normalized) == end - start:
            spans += [(start + i, start + i + len(piece)) for piece in wanted_cjk for i in _occurrences(normalized, piece)]
        elif any(piece in normalized for piece in wanted_cjk):
            spans.append((start, end))
    return _merged(spans)


def _normalized(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _word_term(word: str) -> str:
    if word.isascii():
        return "qw" + word[:_WORD_CHARS]
    return _hex_term(word)


def _hex_term(text: str) -> str:
    return "qx" + text.encode()[:_HEX_BYTES].hex()


def _occurrences(text: str, piece: str) -> list[int]:
    found = []
    index = text.find(piece)
    while index >= 0:
        found.append(index)
        index = text.find(piece, index + 1)
    return found


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
