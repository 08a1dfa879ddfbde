"""Caption tokenizer that reproduces pycocoevalcap's PTBTokenizer output without Java.

pycocoevalcap runs Stanford's PTBTokenizer (``-preserveLines -lowerCase``) and then drops the tokens
``'' ' `` ` . ? ! , : - -- ... ;``. :func:`tokenize` re-implements the parts of the PTB conventions that
matter for captions after that filtering: lower-casing; clitics split off (``it's`` → ``it 's``, ``don't`` →
``do n't``, ``cannot`` → ``can not``, ``gonna`` → ``gon na``); punctuation, quotes and dashes split off and
dropped; brackets kept as ``-lrb-``/``-rrb-``/``-lsb-``/… (pycocoevalcap compares its upper-case list with the
lower-cased output, so it never removes them); symbols (``$ % # & + = /`` …) split off and kept; hyphenated
words, decimals, ``1,000``, ``3:30``, URLs, e-mail addresses and abbreviations (``dr.``, ``e.g.``, ``st.``)
kept whole; ``?!``-style runs kept as one token (PTBTokenizer keeps them too).

It is used to build training vocabularies and for the ``--no-java`` scoring path; scores computed with it
are close to, but not guaranteed equal to, the published pipeline. Of the 200,000 MSR-VTT captions it
tokenizes all but one exactly as the Java tokenizer does (the exception: ``curd-1/4``, which Java splits into
``curd-1 / 4``); ``tests/data/test_tokenize.py`` compares the two on a sample of real and tricky captions.

Example:
    >>> tokenize("A man's playing the guitar (badly)... isn't he?")
    ['a', 'man', "'s", 'playing', 'the', 'guitar', '-lrb-', 'badly', '-rrb-', 'is', "n't", 'he']
"""
from __future__ import annotations

import re

# Tokens pycocoevalcap removes after tokenisation (its PUNCTUATIONS, as they can occur lower-cased).
DROPPED = frozenset(["''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";"])

_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
# Characters PTBTokenizer rewrites (ptb3Escaping): currencies, fractions, typographic punctuation.
_CHAR_MAP = str.maketrans({"£": "#", "€": "$", "¢": " cents ", "½": " 1/2 ", "¼": " 1/4 ", "¾": " 3/4 ",
                           "…": " ... ", "—": " -- ", "–": " -- ", "’": "'", "‘": "`", "“": '"', "”": '"',
                           "«": '"', "»": '"', "‹": "`", "›": "'"})

# Abbreviations that keep their final period (checked against the Java tokenizer); others lose it.
_ABBREVIATIONS = frozenset("""
    mr mrs ms messrs dr prof st mt ft jr sr rev gen sen rep gov lt col sgt capt cmdr adm ph
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri
    etc vs inc ltd co corp bros dept est ave blvd rd al univ assn ariz calif fla va ala""".split())
_NUMBER_ABBREVIATIONS = frozenset(["no"])  # only before a number: "no. 5"
_NUMBER_AHEAD = re.compile(r"\s+\d")
# Words PTBTokenizer splits in two.
_SPLIT_WORDS = {"cannot": 3, "gonna": 3, "gotta": 3, "wanna": 3, "lemme": 3, "gimme": 3}

_TRAIL = r"[^\s.,;:!?'\"`()\[\]{}<>]"  # a character a URL may end with
_TOKEN = re.compile(rf"""
    (?P<url>(?:https?|ftp)://\S*{_TRAIL} | www\.\S*{_TRAIL})
  | (?P<email>[\w.+-]+@[^\W_][\w-]*(?:\.[\w-]+)*)
  | (?P<domain>(?:[^\W_][\w-]*\.)+(?:com|org|net|edu|gov|io|tv)(?![\w.])(?:/\S*{_TRAIL})?)
  | (?P<emoticon>[:;=]-?[()dp](?!\w)|\^_\^|-_-)
  | (?P<sgml></?[a-z]\w*>)
  | (?P<tag>[#@][^\W\d_]\w*)
  | (?P<apos>'(?:em|cause|till?|[2-9]0s|n'|[sdm]|re|ve|ll)(?![\w'])|'t(?=(?:is|was)\b))
  | (?P<word>(?:[-+.](?=\d))?\w+(?:(?:[-/.']|(?<=\d)[,:](?=\d)|(?-i:(?<=[A-Z])&(?=[A-Z])))\w+)*)(?P<dot>\.(?!\.))?
  | (?P<dropped>\.{{2,}}|-{{2,}}|")
  | (?P<marks>[?!]+)
  | (?P<other>\S)
""", re.VERBOSE | re.IGNORECASE)

_NUMBER_UNIT = re.compile(r"(\d+(?:[.,:]\d+)+)([^\W\d_]\w*)")  # 3.5kg, 10:00pm → number + unit
_CLITIC = re.compile(r"(.+?)((?:n't)|'(?:s|m|d|re|ve|ll))", re.IGNORECASE)
_INNER_PARTS = re.compile(r"'(?:s|m|d|re|ve|ll)(?='|$)|'|[^']+", re.IGNORECASE)
_KEEP_APOS = re.compile(r"[a-hj-xz]'[^\W\d_]{2,}|[^\W\d_]*[aeiouy]'[aeiou][^\W\d_]*", re.IGNORECASE)


def tokenize(caption: str) -> list[str]:
    """Lower-cased PTB tokens of ``caption`` with pycocoevalcap's punctuation removed.

    Example:
        >>> tokenize("  The dog, a beagle, runs at 3:30pm -- fast!")
        ['the', 'dog', 'a', 'beagle', 'runs', 'at', '3:30', 'pm', 'fast']
        >>> " ".join(tokenize("I'm gonna cook 1,000 eggs for $5 (100%)"))
        "i 'm gon na cook 1,000 eggs for $ 5 -lrb- 100 % -rrb-"
    """
    text = caption.replace("&amp;", "&").translate(_CHAR_MAP)
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "dot":  # the word group matched too; lastgroup names the last one
            numbered = _NUMBER_AHEAD.match(text, match.end()) is not None
            tokens.extend(_word(match["word"], dot=True, numbered=numbered))
        elif kind == "word":
            tokens.extend(_word(match["word"], dot=False, numbered=False))
        elif kind == "emoticon":
            face = match[kind]
            tokens.append(face[:-1] + _BRACKETS.get(face[-1], face[-1]))
        elif kind == "dropped":
            continue
        elif kind == "other":
            tokens.append(_BRACKETS.get(match[kind], match[kind]))
        else:
            tokens.append(match[kind])
    return [low for low in (t.lower() for t in tokens) if low not in DROPPED]


def _word(word: str, *, dot: bool, numbered: bool) -> list[str]:
    """Split one word-like match into PTB tokens; ``dot``: a single period followed it, ``numbered``:
    and then a number."""
    parts = _split_apostrophes(word)
    if dot:
        last = parts[-1]
        lower = last.lower()
        # Single letters, letter.letter acronyms (e.g., u.s.) and known abbreviations keep the period.
        if (re.fullmatch(r"[^\W\d_](?:\.[^\W\d_])*", last) or lower in _ABBREVIATIONS
                or (numbered and lower in _NUMBER_ABBREVIATIONS)):
            parts[-1] = last + "."
        # Otherwise the period is its own (dropped) token, so nothing is added.
    return parts


def _split_apostrophes(word: str) -> list[str]:
    if not word:
        return []
    lower = word.lower()
    if lower in _SPLIT_WORDS:
        cut = _SPLIT_WORDS[lower]
        return [word[:cut], word[cut:]]
    unit = _NUMBER_UNIT.fullmatch(word)
    if unit:
        return [unit[1], unit[2]]
    if lower.startswith("y'"):  # y'all → y' all
        return [word[:2], *_split_apostrophes(word[2:])]
    if "'" not in word or _KEEP_APOS.fullmatch(word):  # o'neil, c'mon, ma'am stay whole
        return [word]
    if "'n'" in lower:  # rock'n'roll → rock 'n' roll
        at = lower.index("'n'")
        return [*_split_apostrophes(word[:at]), word[at:at + 3], *_split_apostrophes(word[at + 3:])]
    clitic = _CLITIC.fullmatch(word)
    if clitic:
        # Peel the last clitic off; the stem may hold another one (they'd've → they 'd 've) or an
        # apostrophe of its own (o'neil's → o'neil 's).
        return [*_split_apostrophes(clitic[1]), clitic[2]]
    # Anything else: clitics before another apostrophe stay (i'd'nt → i 'd nt), the remaining
    # apostrophes become their own (dropped) tokens.
    return _INNER_PARTS.findall(word)
