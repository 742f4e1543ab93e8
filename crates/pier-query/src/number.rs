//! Numeric constants as written in a clause: integers stay exact (INT fields are int64),
//! anything with a fraction or exponent is a double.

/// A numeric constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer that fits in i64.
    Int(i64),
    /// Anything else numeric (fraction, exponent, or an integer too large for i64).
    Float(f64),
}

impl Number {
    /// The value as a double (integers beyond 2^53 round).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// Parses a whole string as a number: optional sign, digits, optional fraction and exponent.
/// Refuses words such as `inf` or `nan` that Rust's float parser would take.
pub(crate) fn parse_number(s: &str) -> Option<Number> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        || !digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Number::Int(i));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Number::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_integers_exact() {
        assert_eq!(
            parse_number("9007199254740993"),
            Some(Number::Int(9007199254740993))
        );
        assert_eq!(parse_number("-5"), Some(Number::Int(-5)));
        assert_eq!(parse_number("2.5"), Some(Number::Float(2.5)));
        assert_eq!(parse_number("1e3"), Some(Number::Float(1000.0)));
        assert_eq!(parse_number(".5").map(Number::as_f64), Some(0.5));
        for bad in ["", "-", "inf", "nan", "1x", "1e999", "x1", "1..2"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
