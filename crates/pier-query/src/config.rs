//! The config clause: paging, response format and rerank size
//! (`config=start:0,hit:10,format:fulljson,rerank_size:200`, spec §4.2).

use crate::error::{Ctx, QueryError, codes};
use crate::split::{key_value, split_top};
use std::collections::BTreeMap;

/// Default number of hits per page.
pub const DEFAULT_HIT: u32 = 10;
/// Most hits per page (more is error 6016).
pub const MAX_HIT: u32 = 500;
/// Largest `start + hit` (more is error 6013; deeper pages need scroll).
pub const MAX_START_PLUS_HIT: u32 = 5000;
/// Default number of documents the fine sort re-ranks.
pub const DEFAULT_RERANK_SIZE: u32 = 200;
/// Largest `rerank_size`.
pub const MAX_RERANK_SIZE: u32 = 2000;

/// The response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Flat items (the default).
    #[default]
    Json,
    /// Items wrapped as `{fields, property, attribute, variableValue, sortExprValues}`, with facets.
    FullJson,
    /// Legacy XML (the Java SDK's default).
    Xml,
}

/// How the words of one analysed term combine (config `default_operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultOperator {
    /// Every word must match (the default).
    #[default]
    And,
    /// Any word may match.
    Or,
}

/// The parsed config clause, with the spec's defaults for what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Offset of the first hit returned, default 0.
    pub start: u32,
    /// Hits per page, default [`DEFAULT_HIT`], at most [`MAX_HIT`].
    pub hit: u32,
    /// Response format, default JSON.
    pub format: Format,
    /// Documents re-ranked by the fine sort, default [`DEFAULT_RERANK_SIZE`].
    pub rerank_size: u32,
    /// Documents considered by the rough sort, when given.
    pub total_rank_size: Option<u32>,
    /// How the words of an analysed term combine, default AND.
    pub default_operator: DefaultOperator,
    /// Any other `key:value` pairs (SDKs pass custom config through), kept verbatim.
    pub extra: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            start: 0,
            hit: DEFAULT_HIT,
            format: Format::Json,
            rerank_size: DEFAULT_RERANK_SIZE,
            total_rank_size: None,
            default_operator: DefaultOperator::And,
            extra: BTreeMap::new(),
        }
    }
}

/// Parses the config clause value.
pub(crate) fn parse_config(ctx: &Ctx<'_>) -> Result<Config, QueryError> {
    let mut config = Config::default();
    for piece in split_top(ctx.text, ",", false) {
        if piece.1.trim().is_empty() {
            continue;
        }
        let Some(((key_pos, key), (pos, value))) = key_value(piece, ':') else {
            return Err(ctx.error(
                codes::SYNTAX,
                piece.0,
                "expected key:value (for example start:0,hit:10,format:fulljson)",
            ));
        };
        let number = |max: u32| -> Result<u32, QueryError> {
            value.parse::<u32>().map_err(|_| {
                ctx.error(
                    codes::SYNTAX,
                    pos,
                    format!("{key} must be a whole number from 0 to {max}"),
                )
            })
        };
        match key {
            "start" => config.start = number(MAX_START_PLUS_HIT)?,
            "hit" => config.hit = number(MAX_HIT)?,
            "rerank_size" => {
                config.rerank_size = number(MAX_RERANK_SIZE)?;
                if config.rerank_size > MAX_RERANK_SIZE {
                    return Err(ctx.error(
                        codes::SYNTAX,
                        pos,
                        format!("rerank_size must be at most {MAX_RERANK_SIZE}"),
                    ));
                }
            }
            "total_rank_size" => config.total_rank_size = Some(number(u32::MAX)?),
            "format" => {
                config.format = match value.to_ascii_lowercase().as_str() {
                    "json" => Format::Json,
                    "fulljson" => Format::FullJson,
                    "xml" => Format::Xml,
                    _ => {
                        return Err(ctx.error(
                            codes::SYNTAX,
                            pos,
                            format!("unknown format '{value}': use json, fulljson or xml"),
                        ));
                    }
                }
            }
            "default_operator" => {
                config.default_operator = match value {
                    "AND" => DefaultOperator::And,
                    "OR" => DefaultOperator::Or,
                    _ => {
                        return Err(ctx.error(
                            codes::SYNTAX,
                            pos,
                            format!("default_operator must be AND or OR, not '{value}'"),
                        ));
                    }
                }
            }
            "" => return Err(ctx.error(codes::SYNTAX, key_pos, "missing key before ':'")),
            _ => {
                config.extra.insert(key.to_string(), value.to_string());
            }
        }
    }
    if config.hit > MAX_HIT {
        return Err(ctx.error(
            codes::HIT_TOO_LARGE,
            0,
            format!("hit {} is over the limit of {MAX_HIT}", config.hit),
        ));
    }
    if config.start.saturating_add(config.hit) > MAX_START_PLUS_HIT {
        return Err(ctx.error(
            codes::START_HIT_TOO_LARGE,
            0,
            format!(
                "start {} + hit {} is over the limit of {MAX_START_PLUS_HIT}; page deeper with scroll",
                config.start, config.hit
            ),
        ));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, QueryError> {
        parse_config(&Ctx {
            clause: "config",
            text,
            schema: None,
            kvpairs: None,
        })
    }

    #[test]
    fn reads_every_key_and_keeps_defaults() {
        let c = parse("start:0,hit:10,format:fulljson").unwrap();
        assert_eq!(c.format, Format::FullJson);
        assert_eq!((c.start, c.hit, c.rerank_size), (0, 10, 200));
        let c = parse("start:20, hit:50, format:xml, rerank_size:2000, total_rank_size:200000, default_operator:OR, foo:bar").unwrap();
        assert_eq!((c.start, c.hit, c.rerank_size), (20, 50, 2000));
        assert_eq!(c.format, Format::Xml);
        assert_eq!(c.total_rank_size, Some(200000));
        assert_eq!(c.default_operator, DefaultOperator::Or);
        assert_eq!(c.extra.get("foo").map(String::as_str), Some("bar"));
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn enforces_the_paging_limits() {
        assert!(parse("start:4500,hit:500").is_ok());
        assert_eq!(parse("hit:501").unwrap_err().code, codes::HIT_TOO_LARGE);
        assert_eq!(
            parse("start:4900,hit:501").unwrap_err().code,
            codes::HIT_TOO_LARGE
        );
        let e = parse("start:4901,hit:100").unwrap_err();
        assert_eq!(e.code, codes::START_HIT_TOO_LARGE);
        assert!(e.message.contains("scroll"), "{}", e.message);
        assert_eq!(
            parse("start:6000").unwrap_err().code,
            codes::START_HIT_TOO_LARGE
        );
    }

    #[test]
    fn refuses_bad_values() {
        let e = parse("start:0,hit:ten").unwrap_err();
        assert_eq!(e.code, codes::SYNTAX);
        assert!(e.message.contains("near 'ten'"), "{}", e.message);
        assert_eq!(parse("hit:-1").unwrap_err().code, codes::SYNTAX);
        assert_eq!(parse("format:yaml").unwrap_err().code, codes::SYNTAX);
        assert_eq!(parse("rerank_size:2001").unwrap_err().code, codes::SYNTAX);
        assert_eq!(parse("hit").unwrap_err().code, codes::SYNTAX);
        assert_eq!(parse(":3").unwrap_err().code, codes::SYNTAX);
        assert_eq!(
            parse("default_operator:and").unwrap_err().code,
            codes::SYNTAX
        );
    }
}
