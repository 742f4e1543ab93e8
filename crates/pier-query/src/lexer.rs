//! Tokens of the expression language shared by filter, sort, dist_filter, agg_filter and
//! agg_fun: names, numbers, double-quoted strings and operator symbols.

use crate::error::{Ctx, QueryError};
use crate::number::{Number, parse_number};

/// Operator and punctuation symbols, longest first so `<=` wins over `<`.
const SYMBOLS: [&str; 16] = [
    ">=", "<=", "!=", "=", ">", "<", "+", "-", "*", "/", "&", "^", "|", "(", ")", ",",
];

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A field or function name, or the words AND / OR.
    Name(String),
    /// A numeric constant.
    Num(Number),
    /// A double-quoted string constant, unescaped.
    Str(String),
    /// One of [`SYMBOLS`].
    Sym(&'static str),
}

/// A token and its byte offset in the clause value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// The token.
    pub tok: Tok,
    /// Byte offset in the clause value.
    pub pos: usize,
}

/// Whether `c` may continue a name: letters (any script, so an unquoted Chinese constant reads
/// as a name and gets a precise error later), digits, `_` and `.` (for `table.field`).
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

/// Splits `text` (found at byte offset `base` of the clause value) into tokens; `code` is the
/// error code for anything unreadable.
pub(crate) fn tokenize(
    ctx: &Ctx<'_>,
    code: u32,
    base: usize,
    text: &str,
) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let pos = base + text.len() - rest.len();
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let (tok, len) = if c.is_ascii_digit()
            || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit()))
        {
            let len = number_len(rest);
            let literal = &rest[..len];
            let num = parse_number(literal).ok_or_else(|| {
                ctx.error(code, pos, format!("'{literal}' is not a valid number"))
            })?;
            if rest[len..].starts_with(is_name_char) {
                return Err(ctx.error(
                    code,
                    pos,
                    "a name cannot start with a digit (string constants go in double quotes)",
                ));
            }
            (Tok::Num(num), len)
        } else if is_name_char(c) {
            let len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
            (Tok::Name(rest[..len].to_string()), len)
        } else if c == '"' {
            let (s, len) = string_literal(rest)
                .ok_or_else(|| ctx.error(code, pos, "unterminated string: add the closing \""))?;
            (Tok::Str(s), len)
        } else if c == '\'' {
            return Err(ctx.error(
                code,
                pos,
                "string constants take double quotes here, not single quotes",
            ));
        } else if let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            (Tok::Sym(sym), sym.len())
        } else {
            return Err(ctx.error(code, pos, format!("unexpected character '{c}'")));
        };
        tokens.push(Token { tok, pos });
        rest = &rest[len..];
    }
    Ok(tokens)
}

/// Length in bytes of the number at the start of `s`: digits, fraction, exponent with sign.
fn number_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
        i += 1;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            i = j;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

/// The unescaped content and byte length (quotes included) of the double-quoted string at the
/// start of `s`, where `\` escapes the next character; None when unterminated.
pub(crate) fn string_literal(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, i + 1)),
            _ => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::codes;

    fn lex(text: &str) -> Result<Vec<Tok>, QueryError> {
        let ctx = Ctx {
            clause: "filter",
            text,
            schema: None,
            kvpairs: None,
        };
        Ok(tokenize(&ctx, codes::FILTER, 0, text)?
            .into_iter()
            .map(|t| t.tok)
            .collect())
    }

    #[test]
    fn reads_every_kind_of_token() {
        assert_eq!(
            lex("price>=100.5 AND tags!=\"a \\\"b\\\"\"").unwrap(),
            vec![
                Tok::Name("price".into()),
                Tok::Sym(">="),
                Tok::Num(Number::Float(100.5)),
                Tok::Name("AND".into()),
                Tok::Name("tags".into()),
                Tok::Sym("!="),
                Tok::Str("a \"b\"".into()),
            ]
        );
        assert_eq!(lex("(a+b)*2e3-c/d&1^2|3,ext.x<=-1").unwrap().len(), 22);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in ["x='a'", "x=\"open", "x=1abc", "x=#", "x=1.2.3"] {
            let e = lex(bad).unwrap_err();
            assert_eq!(e.code, codes::FILTER, "{bad}");
        }
    }
}
