//! The distinct clause (spec §4.2):
//! `dist_key:company_id,dist_count:1,dist_times:1,reserved:false,update_total_hit:false,dist_filter:<expr>,grade:3.0|5.0`,
//! at most [`MAX_DISTINCTS`] specs separated by `;`.

use crate::error::{Ctx, QueryError, codes};
use crate::fields::{attribute_names, attribute_type};
use crate::filter::{Expr, parse_expr};
use crate::number::parse_number;
use crate::split::{Piece, params, split_top, trim};
use pier_model::FieldType;

/// Most distinct specs in one clause (more is error 6124).
pub const MAX_DISTINCTS: usize = 2;

/// The parameter names of a distinct spec, for error messages.
const PARAMS: &str =
    "dist_key, dist_count, dist_times, reserved, update_total_hit, dist_filter, grade";

/// One distinct spec: keep at most `count` documents per `key` value, `times` rounds; with
/// `grades`, separately within each band of relevance scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Distinct {
    /// The attribute field whose values are de-duplicated (`dist_key`, required).
    pub key: String,
    /// Documents kept per key value in a round (`dist_count`, default 1).
    pub count: u32,
    /// Rounds of extraction (`dist_times`, default 1).
    pub times: u32,
    /// Whether documents beyond the quota are kept after the distinct ones (`reserved`,
    /// default true).
    pub reserved: bool,
    /// Whether dropped documents are subtracted from `total` (`update_total_hit`, default false).
    pub update_total_hit: bool,
    /// Only documents matching this take part (`dist_filter`).
    pub filter: Option<Expr>,
    /// Score grade boundaries, `|`-separated (`grade`): `3.0|5.0` makes the bands below 3,
    /// from 3 below 5, and from 5 up, each de-duplicated on its own.
    pub grades: Vec<f64>,
}

/// Parses the distinct clause value.
pub(crate) fn parse_distinct(ctx: &Ctx<'_>) -> Result<Vec<Distinct>, QueryError> {
    let mut specs = Vec::new();
    for (offset, piece) in split_top(ctx.text, ";", true) {
        let piece = trim(offset, piece);
        if specs.len() == MAX_DISTINCTS {
            return Err(ctx.error(
                codes::TOO_MANY_DISTINCTS,
                piece.0,
                format!("at most {MAX_DISTINCTS} distinct specs are allowed, separated by ';'"),
            ));
        }
        specs.push(parse_spec(ctx, piece)?);
    }
    Ok(specs)
}

/// One `key:value,...` spec.
fn parse_spec(ctx: &Ctx<'_>, piece: Piece<'_>) -> Result<Distinct, QueryError> {
    let err = |pos: usize, message: String| ctx.error(codes::DISTINCT, pos, message);
    let pairs = params(piece).map_err(|pos| {
        err(
            pos,
            "expected key:value, as in dist_key:company_id,dist_count:1".to_string(),
        )
    })?;
    let mut spec = Distinct {
        key: String::new(),
        count: 1,
        times: 1,
        reserved: true,
        update_total_hit: false,
        filter: None,
        grades: Vec::new(),
    };
    for ((key_pos, key), (pos, value)) in pairs {
        let whole = || match value.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(err(
                pos,
                format!("{key} must be a whole number of at least 1"),
            )),
        };
        // The PHP SDK writes PHP's `true` as "1".
        let boolean = || match value.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(err(pos, format!("{key} must be true or false"))),
        };
        match key {
            "dist_key" => spec.key = value.to_string(),
            "dist_count" => spec.count = whole()?,
            "dist_times" => spec.times = whole()?,
            "reserved" => spec.reserved = boolean()?,
            "update_total_hit" => spec.update_total_hit = boolean()?,
            "dist_filter" => spec.filter = Some(parse_expr(ctx, codes::DISTINCT, pos, value)?),
            "grade" => {
                spec.grades = value
                    .split('|')
                    .map(|g| parse_number(g.trim()).map(|n| n.as_f64()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        err(
                            pos,
                            "grade must be numbers separated by '|', as in grade:3.0|5.0"
                                .to_string(),
                        )
                    })?
            }
            _ => {
                return Err(err(
                    key_pos,
                    format!("unknown distinct parameter '{key}' (parameters: {PARAMS})"),
                ));
            }
        }
    }
    if spec.key.is_empty() {
        return Err(err(
            piece.0,
            "dist_key is required, as in dist_key:company_id".to_string(),
        ));
    }
    if let Some(schema) = ctx.schema {
        match attribute_type(schema, &spec.key) {
            None => {
                return Err(ctx.error(
                    codes::NOT_ATTRIBUTE_FIELD,
                    piece.0,
                    format!(
                        "dist_key '{}' is not an attribute field (attribute fields: {})",
                        spec.key,
                        attribute_names(schema)
                    ),
                ));
            }
            Some(FieldType::Int | FieldType::Literal) => {}
            Some(other) => {
                return Err(err(
                    piece.0,
                    format!(
                        "dist_key '{}' is {other:?}: distinct needs an INT or LITERAL attribute field",
                        spec.key
                    ),
                ));
            }
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::tests::demo_schema;
    use crate::filter::CmpOp;
    use crate::number::Number;
    use pier_model::Schema;

    fn parse_with(text: &str, schema: Option<&Schema>) -> Result<Vec<Distinct>, QueryError> {
        parse_distinct(&Ctx {
            clause: "distinct",
            text,
            schema,
            kvpairs: None,
        })
    }

    #[test]
    fn reads_every_parameter_and_defaults() {
        let d = parse_with("dist_key:company_id", None).unwrap();
        assert_eq!(
            d,
            vec![Distinct {
                key: "company_id".into(),
                count: 1,
                times: 1,
                reserved: true,
                update_total_hit: false,
                filter: None,
                grades: vec![],
            }]
        );
        let d = parse_with(
            "dist_key:company_id,dist_count:2,dist_times:3,reserved:false,update_total_hit:true,dist_filter:buy>10,grade:3.0|5.0;dist_key:cate_id",
            Some(&demo_schema()),
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].count, d[0].times, d[0].reserved, d[0].update_total_hit),
            (2, 3, false, true)
        );
        assert_eq!(d[0].grades, vec![3.0, 5.0]);
        assert_eq!(
            d[0].filter,
            Some(Expr::Compare {
                op: CmpOp::Gt,
                left: Box::new(Expr::Field("buy".into())),
                right: Box::new(Expr::Number(Number::Int(10))),
            })
        );
        assert_eq!(d[1].key, "cate_id");
        let d = parse_with(
            "dist_key:id, dist_filter:in(cate_id,\"1|2\"), dist_count:1",
            None,
        )
        .unwrap();
        assert!(matches!(d[0].filter, Some(Expr::In { .. })));
        // As the PHP SDK writes it: booleans as 1, false ones left out.
        let d = parse_with(
            "dist_key:id,dist_count:1,dist_times:1,reserved:1,update_total_hit:1",
            None,
        )
        .unwrap();
        assert!(d[0].reserved && d[0].update_total_hit);
        let d = parse_with("dist_key:id,reserved:FALSE,update_total_hit:0", None).unwrap();
        assert!(!d[0].reserved && !d[0].update_total_hit);
    }

    #[test]
    fn errors() {
        let e = parse_with("dist_key:a;dist_key:b;dist_key:c", None).unwrap_err();
        assert_eq!(e.code, codes::TOO_MANY_DISTINCTS);
        assert!(e.message.contains("at position 22"), "{}", e.message);
        let cases = [
            ("dist_count:2", "dist_key is required"),
            ("dist_key:a,dist_count:-1", "whole number"),
            ("dist_key:a,dist_count:0", "at least 1"),
            ("dist_key:a,dist_times:0", "at least 1"),
            ("dist_key:a,dist_times:x", "whole number"),
            ("dist_key:a,reserved:yes", "true or false"),
            ("dist_key:a,update_total_hit:2", "true or false"),
            ("dist_key:a,grade:3|x", "grade"),
            (
                "dist_key:a,colour:red",
                "unknown distinct parameter 'colour'",
            ),
            ("dist_key:a,oops", "expected key:value"),
            ("dist_key:a,dist_filter:a>", "expected a field"),
            ("", "dist_key is required"),
        ];
        for (text, what) in cases {
            let e = parse_with(text, None).unwrap_err();
            assert_eq!(e.code, codes::DISTINCT, "{text}");
            assert!(e.message.contains(what), "{text}: {}", e.message);
        }
        let s = demo_schema();
        let e = parse_with("dist_key:title", Some(&s)).unwrap_err();
        assert_eq!(e.code, codes::NOT_ATTRIBUTE_FIELD);
        for key in ["tags", "price", "ids"] {
            let e = parse_with(&format!("dist_key:{key}"), Some(&s)).unwrap_err();
            assert_eq!(e.code, codes::DISTINCT, "{key}");
            assert!(e.message.contains("INT or LITERAL"), "{}", e.message);
        }
        let e = parse_with("dist_key:id,dist_filter:title=\"x\"", Some(&s)).unwrap_err();
        assert_eq!(e.code, codes::NOT_ATTRIBUTE_FIELD);
        assert!(e.message.contains("at position 24"), "{}", e.message);
    }
}
