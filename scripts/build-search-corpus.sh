#!/usr/bin/env bash
# Builds the corpus of `pier bench search`: about 1,000,000 paragraph-sized documents of real
# text (by default 80% English, 20% Chinese) as JSON Lines of OpenSearch V3 push operations,
# cached outside the repository.
#
#   scripts/build-search-corpus.sh                 # 1,000,000 docs into /work/cache/corpus
#   scripts/build-search-corpus.sh --docs 200000   # a smaller one (its own file name)
#   CORPUS_DIR=/data/corpus scripts/build-search-corpus.sh
#
# Output: $CORPUS_DIR/search-corpus-<docs>.jsonl, one {"cmd":"add","fields":{...}} per line with
# fields id (LITERAL, primary key), title and body (TEXT), cat (INT 0-9), price (INT), brand
# (LITERAL, 50 values), ts (TIMESTAMP ms), and search-corpus-<docs>.manifest.json saying how many
# documents came from which source. A corpus that already exists is kept (--force rebuilds it).
#
# Sources (fetched once into $CORPUS_DIR/src with the ordinary package clients, never installed
# system-wide): Debian packages of English text (GCIDE and WordNet dictionaries, FOLDOC, the
# Jargon File, V.E.R.A., the Devil's Dictionary, the Linux man pages, perl/python/git/PostgreSQL/
# Django/Sphinx/vim/OpenJDK/Rust documentation, the Linux kernel's documentation, the Debian
# Reference and Handbook, fortunes) and the npm package chinese-poetry (Tang and Song poems and
# ci, Yuan qu, the Book of Songs, poets' biographies) plus the kernel documentation's Chinese
# translation. Traditional characters are converted to simplified ones with zhconv (PyPI, in a
# virtualenv under $CORPUS_DIR/venv). Real paragraphs run out at about 600,000 English documents;
# the rest are variants of real ones (sentences rotated plus a sentence of another paragraph),
# marked "(variant)" in the manifest.
#
# Needs: bash, apt-get and dpkg-deb (the package names are Debian 12's), npm, python3 with venv.
# Takes ~3 minutes and ~2.5 GB of disk (2 GB of sources, mostly unpacked docs, plus the 386 MB corpus).
set -euo pipefail

CORPUS_DIR="${CORPUS_DIR:-/work/cache/corpus}"
DOCS=1000000
CHINESE_SHARE=0.2
FORCE=0
usage() {
    sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
    echo "options: --docs N (default $DOCS)  --chinese-share F (default $CHINESE_SHARE)  --force  --dir DIR"
}
while [ $# -gt 0 ]; do
    case "$1" in
        --docs) DOCS="$2"; shift 2 ;;
        --chinese-share) CHINESE_SHARE="$2"; shift 2 ;;
        --dir) CORPUS_DIR="$2"; shift 2 ;;
        --force) FORCE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$CORPUS_DIR/search-corpus-$DOCS.jsonl"
SRC="$CORPUS_DIR/src"
if [ -s "$OUT" ] && [ "$FORCE" = 0 ]; then
    echo "corpus already built: $OUT (use --force to rebuild)"
    exit 0
fi
mkdir -p "$SRC/deb" "$SRC/root" "$SRC/npm"

# Debian packages of English text, downloaded and unpacked (not installed: no services start,
# nothing needs root once the package lists are there).
DEBS=(dict-gcide dict-wn dict-foldoc dict-jargon dict-vera dict-devil manpages manpages-dev
      fortunes fortunes-min debian-reference-en perl-doc python3.11-doc git-doc linux-doc-6.1
      postgresql-doc-15 vim-runtime python-django-doc sphinx-doc debian-handbook openjdk-17-doc
      rust-doc)
missing=()
for p in "${DEBS[@]}"; do
    ls "$SRC/deb/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "fetching Debian packages: ${missing[*]}"
    if ! (cd "$SRC/deb" && apt-get download "${missing[@]}"); then
        echo "apt-get download failed; refreshing the package lists and retrying"
        if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
        (cd "$SRC/deb" && apt-get download "${missing[@]}")
    fi
    for p in "${missing[@]}"; do
        dpkg-deb -x "$(ls "$SRC/deb/${p}_"*.deb | head -1)" "$SRC/root"
    done
fi

# Chinese text from npm.
if [ ! -d "$SRC/npm/package/dist" ]; then
    echo "fetching npm package chinese-poetry"
    (cd "$SRC/npm" && npm pack --silent chinese-poetry@2.0.1 >/dev/null && tar xzf chinese-poetry-2.0.1.tgz)
fi

# zhconv (traditional → simplified Chinese) in a private virtualenv.
if [ ! -x "$CORPUS_DIR/venv/bin/python" ]; then
    python3 -m venv "$CORPUS_DIR/venv"
fi
"$CORPUS_DIR/venv/bin/python" -c 'import zhconv' 2>/dev/null \
    || "$CORPUS_DIR/venv/bin/pip" install --quiet zhconv==1.4.3

echo "building $OUT"
"$CORPUS_DIR/venv/bin/python" "$HERE/build_search_corpus.py" \
    --src "$SRC" --out "$OUT" --docs "$DOCS" --chinese-share "$CHINESE_SHARE"
echo "done: $OUT ($(du -h "$OUT" | cut -f1)), manifest ${OUT%.jsonl}.manifest.json"
