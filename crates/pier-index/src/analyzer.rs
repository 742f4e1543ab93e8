//! Text analyzers for search indexes (spec §5): Chinese word segmentation, single-character CJK,
//! English stemming and keyword; registered on each tantivy index under their schema names.

use pier_model::Analyzer;
use tantivy::tokenizer::{
    Language, LowerCaser, RawTokenizer, SimpleTokenizer, Stemmer, TextAnalyzer, Token, TokenStream,
    Tokenizer, TokenizerManager,
};

/// Longest token kept; longer ones are noise (URLs, base64) and bloat the term dictionary.
const MAX_TOKEN_BYTES: usize = 100;

/// A token stream over tokens computed up front.
pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The shared jieba segmenter (loading its dictionary takes a while; do it once).
static JIEBA: std::sync::LazyLock<tantivy_jieba::jieba_rs::Jieba> =
    std::sync::LazyLock::new(tantivy_jieba::jieba_rs::Jieba::new);

/// jieba in search mode (overlapping words, good for recall) for runs of CJK text; runs of other
/// letters and digits are one token each. Only CJK runs go through jieba: on Latin text it does
/// the same splitting far more slowly.
#[derive(Clone, Default)]
pub struct ChineseTokenizer;

impl Tokenizer for ChineseTokenizer {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        tokenize_runs(text, |run, push| {
            let bytes: Vec<usize> = run
                .char_indices()
                .map(|(b, _)| b)
                .chain(std::iter::once(run.len()))
                .collect();
            for t in JIEBA.tokenize(run, tantivy_jieba::jieba_rs::TokenizeMode::Search, true) {
                push(bytes[t.start], bytes[t.end]);
            }
        })
    }
}

/// Tokenizes text run by run: each run of letters and digits is one token, each CJK run is split
/// by `cjk`, which reports tokens as byte ranges within the run; everything else separates tokens.
fn tokenize_runs(text: &str, cjk: impl Fn(&str, &mut dyn FnMut(usize, usize))) -> VecTokenStream {
    let mut tokens: Vec<Token> = Vec::new();
    let mut push = |from: usize, to: usize| {
        tokens.push(Token {
            offset_from: from,
            offset_to: to,
            position: tokens.len(),
            text: text[from..to].to_string(),
            position_length: 1,
        });
    };
    for (class, from, to) in runs(text) {
        match class {
            CharClass::Word => push(from, to),
            CharClass::Cjk => cjk(&text[from..to], &mut |a, b| push(from + a, from + b)),
            CharClass::Other => {}
        }
    }
    VecTokenStream { tokens, next: 0 }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Cjk,
    Word,
    Other,
}

fn class(c: char) -> CharClass {
    if is_cjk(c) {
        CharClass::Cjk
    } else if c.is_alphanumeric() {
        CharClass::Word
    } else {
        CharClass::Other
    }
}

/// Splits text into maximal runs of one character class, as (class, start byte, end byte).
fn runs(text: &str) -> Vec<(CharClass, usize, usize)> {
    let mut out: Vec<(CharClass, usize, usize)> = Vec::new();
    for (i, c) in text.char_indices() {
        let k = class(c);
        match out.last_mut() {
            Some((last, _, end)) if *last == k => *end = i + c.len_utf8(),
            _ => out.push((k, i, i + c.len_utf8())),
        }
    }
    out
}

/// One token per CJK character; runs of other letters and digits form one token each.
#[derive(Clone, Default)]
pub struct SingleCharTokenizer;

impl Tokenizer for SingleCharTokenizer {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        tokenize_runs(text, |run, push| {
            run.char_indices()
                .for_each(|(i, c)| push(i, i + c.len_utf8()))
        })
    }
}

/// The tantivy text analyzer for a schema analyzer.
pub fn text_analyzer(analyzer: Analyzer) -> TextAnalyzer {
    use tantivy::tokenizer::RemoveLongFilter;
    match analyzer {
        Analyzer::ChnStandard => TextAnalyzer::builder(ChineseTokenizer)
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser)
            .build(),
        Analyzer::ChnSingle => TextAnalyzer::builder(SingleCharTokenizer)
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser)
            .build(),
        Analyzer::EnStandard => TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser)
            .filter(Stemmer::new(Language::English))
            .build(),
        Analyzer::Keyword => TextAnalyzer::from(RawTokenizer::default()),
    }
}

/// Registers every analyzer under its canonical name.
pub fn register_all(manager: &TokenizerManager) {
    for a in [
        Analyzer::ChnStandard,
        Analyzer::ChnSingle,
        Analyzer::EnStandard,
        Analyzer::Keyword,
    ] {
        manager.register(a.name(), text_analyzer(a));
    }
}

/// The tokens an analyzer makes of `text` (for tests and query analysis).
pub fn tokens(analyzer: Analyzer, text: &str) -> Vec<String> {
    let mut a = text_analyzer(analyzer);
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_words_in_search_mode() {
        let t = tokens(Analyzer::ChnStandard, "我们在北京大学学习, Search ENGINES!");
        for w in [
            "我们",
            "北京",
            "大学",
            "北京大学",
            "学习",
            "search",
            "engines",
        ] {
            assert!(t.contains(&w.to_string()), "{w} missing from {t:?}");
        }
        assert!(!t.iter().any(|x| x.trim().is_empty() || x == ","));
    }

    #[test]
    fn single_characters_and_words() {
        assert_eq!(
            tokens(Analyzer::ChnSingle, "北京abc 12大学"),
            vec!["北", "京", "abc", "12", "大", "学"]
        );
    }

    #[test]
    fn english_is_stemmed_and_keyword_is_exact() {
        assert_eq!(
            tokens(Analyzer::EnStandard, "Running Searches"),
            vec!["run", "search"]
        );
        assert_eq!(
            tokens(Analyzer::Keyword, "Running Searches"),
            vec!["Running Searches"]
        );
    }
}
