//! Splitting clause text on a separator at the top level: never inside a quoted string
//! (`'...'` or `"..."`, where `\` escapes the next character) and, when asked, never inside
//! parentheses. Every piece keeps its byte offset so errors can point into the original text.

/// A piece of a split string: its byte offset in the string that was split, and its text.
pub(crate) type Piece<'a> = (usize, &'a str);

/// Splits `s` on every top-level occurrence of `sep`. With `nested`, separators inside
/// parentheses are not top level either. An unterminated quote runs to the end of `s` (the
/// clause parser then reports it).
pub(crate) fn split_top<'a>(s: &'a str, sep: &str, nested: bool) -> Vec<Piece<'a>> {
    split_with(s, sep, nested, false)
}

/// [`split_top`] without nesting, where a `\` outside quotes also keeps the next character
/// (a `\,` in a kvpairs value) from separating.
pub(crate) fn split_unescaped<'a>(s: &'a str, sep: &str) -> Vec<Piece<'a>> {
    split_with(s, sep, false, true)
}

fn split_with<'a>(s: &'a str, sep: &str, nested: bool, escapes: bool) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut depth = 0usize;
    let mut iter = s.char_indices();
    while let Some((i, c)) = iter.next() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if escapes => escaped = true,
            '\'' | '"' => quote = Some(c),
            '(' if nested => depth += 1,
            ')' if nested => depth = depth.saturating_sub(1),
            _ if depth == 0 && s[i..].starts_with(sep) => {
                pieces.push((start, &s[start..i]));
                start = i + sep.len();
                // Skip the rest of a multi-character separator.
                for _ in 1..sep.chars().count() {
                    iter.next();
                }
            }
            _ => {}
        }
    }
    pieces.push((start, &s[start..]));
    pieces
}

/// Splits `piece` at its first `sep` into trimmed key and value, each with its byte offset in
/// the text `piece` came from; None when there is no `sep`.
pub(crate) fn key_value<'a>(piece: Piece<'a>, sep: char) -> Option<(Piece<'a>, Piece<'a>)> {
    let (offset, text) = piece;
    let at = text.find(sep)?;
    let key = trim(offset, &text[..at]);
    let value = trim(offset + at + sep.len_utf8(), &text[at + sep.len_utf8()..]);
    Some((key, value))
}

/// Trims surrounding whitespace, moving the offset past what was trimmed at the front.
pub(crate) fn trim(offset: usize, text: &str) -> Piece<'_> {
    let trimmed = text.trim_start();
    (offset + text.len() - trimmed.len(), trimmed.trim_end())
}

/// A `key:value` parameter: trimmed key and value pieces.
pub(crate) type Param<'a> = (Piece<'a>, Piece<'a>);

/// Splits a `key:value,key:value` spec (found at offset `piece.0`) into parameters, on commas
/// outside quotes and parentheses. Blank parameters are skipped; a parameter without `:` is
/// returned as `Err` with its offset.
pub(crate) fn params(piece: Piece<'_>) -> Result<Vec<Param<'_>>, usize> {
    let mut out = Vec::new();
    for (offset, text) in split_top(piece.1, ",", true) {
        let (offset, text) = trim(piece.0 + offset, text);
        if text.is_empty() {
            continue;
        }
        out.push(key_value((offset, text), ':').ok_or(offset)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_only() {
        let s = "query=title:'a&&b'&&filter=x=\"c&&\\\"d\"&&sort=-x";
        let parts: Vec<_> = split_top(s, "&&", false).into_iter().map(|p| p.1).collect();
        assert_eq!(
            parts,
            vec!["query=title:'a&&b'", "filter=x=\"c&&\\\"d\"", "sort=-x"]
        );
        let pieces = split_top(s, "&&", false);
        assert_eq!(&s[pieces[2].0..], "sort=-x");
    }

    #[test]
    fn nested_mode_respects_parentheses() {
        let parts: Vec<_> = split_top("a:in(x,\"1|2\"),b:2", ",", true)
            .into_iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(parts, vec!["a:in(x,\"1|2\")", "b:2"]);
        let parts: Vec<_> = split_top("a)),b", ",", true)
            .into_iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(parts, vec!["a))", "b"]);
    }

    #[test]
    fn key_value_keeps_offsets() {
        let s = "x, dist_key : id";
        let pieces = split_top(s, ",", false);
        let ((ko, k), (vo, v)) = key_value(pieces[1], ':').unwrap();
        assert_eq!((k, v), ("dist_key", "id"));
        assert_eq!(&s[ko..ko + k.len()], "dist_key");
        assert_eq!(&s[vo..], "id");
        assert!(key_value((0, "novalue"), ':').is_none());
    }

    #[test]
    fn params_split_on_top_level_commas() {
        let text = "x;dist_key:id, dist_filter:in(a,\"1|2\") ,,reserved:false";
        let p = params((2, &text[2..])).unwrap();
        let pairs: Vec<_> = p.iter().map(|((_, k), (_, v))| (*k, *v)).collect();
        assert_eq!(
            pairs,
            vec![
                ("dist_key", "id"),
                ("dist_filter", "in(a,\"1|2\")"),
                ("reserved", "false")
            ]
        );
        assert_eq!(&text[(p[1].1).0..(p[1].1).0 + 2], "in");
        assert_eq!(params((0, "a:1, oops")), Err(5));
    }
}
