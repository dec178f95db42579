#!/usr/bin/env python3
"""Writes the NFC golden files that test_nfc.cpp reads, from Python's unicodedata.

    python3 tests/tokenizer/golden/gen_nfc_golden.py   # from the repository root, ../shared beside it

nfc_cases.json: named strings (Hangul, reordering, singletons, exclusions, scripts, emoji, the
llama.cpp vector strings) with their NFC and NFD forms, ASCII-escaped; among them a letter
followed by every character of non-zero combining class in ascending (then descending) code
point order, whose NFC pins each combining class.

nfc_code_points.txt: probes built from every code point c (surrogates excluded), listed only
where NFC changes the probe, so that every probe not listed must come back unchanged:
  single c         c
  acute c          c U+0301
  after_a c        U+0061 c
  nfd c            the NFD of c, for every c with a canonical decomposition except Hangul
                   syllables (the test builds those from the formula).
  unassigned a b   code points a..b unassigned in this Unicode version (a newer library's data
                   may give them properties; normalization stability covers only assigned ones).
Format: "<probe> <c> : <input, nfd only> : <NFC>", code points in hex.
"""
import json
import os
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "..", "..", "..", "shared", "tokenizers", "vectors", "llamacpp")


def nfc(s):
    return unicodedata.normalize("NFC", s)


def nfd(s):
    return unicodedata.normalize("NFD", s)


CASES = [
    # Hangul: syllables, conjoining jamo, partial syllables, old jamo that never compose.
    ("hangul syllables", "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8"),
    ("hangul L V", "\u1100\u1161"),
    ("hangul L V T", "\u1112\u1161\u11ab\u1100\u116e\u11a8"),
    ("hangul LV + T", "\uac00\u11a8"),
    ("hangul LVT + T stays", "\uac01\u11a8"),
    ("hangul lone L, V, T", "\u1100 \u1161 \u11a8"),
    ("hangul T after a letter", "a\u11a8"),
    ("hangul first and last", "\u1100\u1161\uac00\u1112\u1175\u11c2\ud7a3"),
    ("hangul jamo with marks", "\u1100\u0301\u1161\u11a8\u0323"),
    ("hangul old jamo", "\u1113\u1161\ua960\u1176\ud7b0\u11c3\u115f\u1160"),
    ("hangul compatibility jamo", "\u3131\u314f \uffa1"),
    ("hangul U+11A7 is not a T", "\uac00\u11a7"),
    # Canonical ordering and blocking (UAX #15 examples and friends).
    ("marks out of order", "a\u0301\u0323"),
    ("marks in order", "a\u0323\u0301"),
    ("uax15 d dot above dot below", "\u1e0b\u0323"),
    ("uax15 D dot below dot above", "D\u0307\u0323"),
    ("uax15 q", "q\u0307\u0323"),
    ("uax15 long s", "\u1e9b\u0323"),
    ("blocked by same class", "a\u0301\u0301"),
    ("blocked by starter", "a\u0363b\u0301"),
    ("cedilla and acute", "c\u0301\u0327 C\u0327\u0301"),
    ("three levels", "o\u0308\u0304 \u01d5 \u1e4d"),
    ("leading combining mark", "\u0301a\u0301"),
    ("only marks", "\u0323\u0301\u0334\u0345"),
    ("ypogegrammeni reorders", "\u03b1\u0345\u0313\u0301"),
    ("greek polytonic", "\u1f00\u0345 \u1f84 \u03b1\u0313\u0301\u0345"),
    ("hebrew points", "\u05e9\u05c1\u05bc \u05d1\u05bc\u05b8 \u05e9\u05bc\u05c1"),
    ("arabic harakat", "\u0628\u0651\u064e \u0628\u064e\u0651 \u0627\u0653 \u0627\u0654"),
    ("devanagari nukta", "\u0915\u093c \u0930\u093c \u0928\u093c"),
    ("kannada two step", "\u0cc6\u0cc2\u0cd5 \u0cc6\u0cd5"),
    ("malayalam and sinhala", "\u0d46\u0d3e \u0dd9\u0dcf\u0dca \u0dd9\u0ddf"),
    ("myanmar and balinese", "\u1025\u102e \u1b05\u1b35"),
    ("tibetan", "\u0f71\u0f72 \u0f71\u0f74 \u0f73 \u0f42\u0fb7"),
    ("supplementary compositions", "\U00011099\U000110ba \U00011131\U00011127 \U00011347\U0001133e \U00011935\U00011930"),
    ("grapheme joiner blocks", "a\u034f\u0301"),
    ("zero width joiner", "a\u200d\u0301"),
    # Singletons and composition exclusions.
    ("singletons", "\u212b \u2126 \u212a \u0340\u0341 \u0343 \u0374 \u037e \u0387 \u1f71 \u2000 \u2001 \u2329\u232a"),
    ("cjk compatibility ideographs", "\uf900\ufa10\ufa6d \U0002f800\U0002fa1d"),
    ("exclusion devanagari", "\u0958\u0959\u095f"),
    ("exclusion bengali and gurmukhi", "\u09dc\u09dd\u09df \u0a33\u0a36\u0a59"),
    ("exclusion hebrew presentation", "\ufb1d\ufb1f\ufb2a\ufb2e\ufb4e"),
    ("exclusion non-starter decompositions", "\u0344 \u0f73 \u0f75 \u0f81 a\u0344"),
    ("exclusion post composition version", "\u2adc \u2add\u0338"),
    ("exclusion musical symbols", "\U0001d15e\U0001d160\U0001d1bb\U0001d1c0"),
    ("excluded composites from parts", "\u0915\u093c\u0921\u093c \u05d9\u05b4 \u2add\u0338"),
    ("compatibility is not canonical", "\ufb01 \u00bd \u2460 \uff21 \u00b2 \u2122 \u3300"),
    # Text.
    ("ascii", "Hello, world! 123 <|im_start|>"),
    ("already nfc latin", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m Stra\u00dfe"),
    ("decomposed latin", "cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m"),
    ("vietnamese", "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u: \u0111\u01b0\u1eddng ph\u1ed1 H\u00e0 N\u1ed9i"),
    ("vietnamese decomposed", "Tie\u0302\u0301ng Vie\u0323\u0302t co\u0301 da\u0302\u0301u"),
    ("vietnamese mixed order", "Vie\u0302\u0323t \u01a1\u0300 \u01b0\u0309"),
    ("cjk", "\u4eca\u65e5\u306f\u4e16\u754c \u4f60\u597d\uff0c\u4e16\u754c \u30ac\u30ab\u3099\u304b\u3099"),
    ("japanese dakuten", "\u304b\u3099\u30cf\u309a \u30a6\u3099 \u309d\u3099"),
    ("emoji", "\U0001f600\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f44d\U0001f3fd \U0001f1fa\U0001f1f8 \u2764\ufe0f"),
    ("emoji keycap and tag", "1\ufe0f\u20e3 \U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"),
    ("cyrillic", "\u0439 \u0438\u0306 \u0451 \u0435\u0308 \u0419"),
    ("thai", "\u0e01\u0e33 \u0e01\u0e4d\u0e32 \u0e01\u0e48\u0e33"),
    ("private use and unassigned", "\ue000\U000f0000 \U0010ffff \u0378 \U000e01ef"),
    ("nul and controls", "a\x00\u0301\t\r\n\u0085\u0301"),
]


def cases():
    out = [(name, text) for name, text in CASES]
    with open(os.path.join(VECTORS, "ggml-vocab-qwen2.gguf.inp"), encoding="utf-8") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")[:-1]
    for vocab in ("llama-spm", "llama-bpe"):
        with open(os.path.join(VECTORS, "ggml-vocab-{}.gguf.inp".format(vocab)), encoding="utf-8") as f:
            assert f.read().split("\n__ggml_vocab_test__\n")[:-1] == texts, vocab
    for i, text in enumerate(texts):
        out.append(("vector {}".format(i), text))
        if nfd(text) != text:
            out.append(("vector {} nfd".format(i), nfd(text)))
    marks = [chr(c) for c in range(0x110000) if unicodedata.combining(chr(c))]
    out.append(("every combining mark, ascending", "a" + "".join(marks)))
    out.append(("every combining mark, descending", "a" + "".join(reversed(marks))))
    return out


def hex_list(s):
    return " ".join("{:X}".format(ord(c)) for c in s)


def write_cases():
    rows = [{"name": name, "input": text, "nfc": nfc(text), "nfd": nfd(text)} for name, text in cases()]
    doc = {"unicode_version": unicodedata.unidata_version, "generator": "gen_nfc_golden.py", "cases": rows}
    with open(os.path.join(HERE, "nfc_cases.json"), "w", encoding="ascii") as f:
        json.dump(doc, f, ensure_ascii=True, indent=1)
        f.write("\n")


def write_code_points():
    lines = [
        "# NFC of probes built from every code point (Unicode {}, Python unicodedata; see gen_nfc_golden.py)."
        .format(unicodedata.unidata_version),
        "# Only probes that NFC changes are listed: every other probe must come back unchanged.",
    ]
    probes = [("single", lambda ch: ch), ("acute", lambda ch: ch + "\u0301"), ("after_a", lambda ch: "a" + ch)]
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for name, build in probes:
        for c in code_points:
            probe = build(chr(c))
            if nfc(probe) != probe:
                lines.append("{} {:X} : : {}".format(name, c, hex_list(nfc(probe))))
    for c in code_points:
        if 0xAC00 <= c <= 0xD7A3:
            continue
        decomposed = nfd(chr(c))
        if decomposed != chr(c):
            lines.append("nfd {:X} : {} : {}".format(c, hex_list(decomposed), hex_list(nfc(decomposed))))
    # Code points this Unicode version leaves unassigned: a newer library may normalize them.
    first = None
    for c in code_points + [0x110000]:
        unassigned = c < 0x110000 and unicodedata.category(chr(c)) == "Cn"
        if unassigned and first is None:
            first = c
        elif not unassigned and first is not None:
            lines.append("unassigned {:X} {:X}".format(first, last))
            first = None
        last = c
    with open(os.path.join(HERE, "nfc_code_points.txt"), "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if not os.path.isdir(VECTORS):
        sys.exit("cannot find the llama.cpp vectors at " + VECTORS)
    write_cases()
    write_code_points()
