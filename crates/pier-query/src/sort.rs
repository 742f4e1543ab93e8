//! The sort clause (spec §4.2): `+field;-field;-RANK`, keys separated by `;`, each an optional
//! direction sign and either `RANK` (relevance) or an arithmetic expression of attribute fields
//! and functions (`-(hits+comments)`, `+distance(lon,lat,"120.3","30.5")`).

use crate::error::{Ctx, QueryError, codes};
use crate::filter::{Expr, parse_expr};
use crate::split::{split_top, trim};

/// The word that stands for the relevance score.
pub const RANK: &str = "RANK";

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `+`: smallest first.
    Asc,
    /// `-`: largest first. Also the direction of a key written without a sign (design choice,
    /// matching the engine editions whose sort order defaults to descending).
    Desc,
}

/// What a sort key orders by.
#[derive(Debug, Clone, PartialEq)]
pub enum SortExpr {
    /// The relevance score.
    Rank,
    /// An expression of attribute fields.
    Expr(Expr),
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// Direction.
    pub order: Order,
    /// What to order by.
    pub key: SortExpr,
}

/// The sort a request gets when it has no sort clause: `-RANK`.
pub fn default_sort() -> Vec<SortKey> {
    vec![SortKey {
        order: Order::Desc,
        key: SortExpr::Rank,
    }]
}

/// Parses the sort clause value.
pub(crate) fn parse_sort(ctx: &Ctx<'_>) -> Result<Vec<SortKey>, QueryError> {
    let mut keys = Vec::new();
    for (offset, piece) in split_top(ctx.text, ";", true) {
        let (offset, piece) = trim(offset, piece);
        if piece.is_empty() {
            return Err(ctx.error(
                codes::SORT,
                offset,
                "empty sort key: write keys such as +price;-RANK separated by ';'",
            ));
        }
        let (order, body) = match piece.as_bytes()[0] {
            b'+' => (Order::Asc, &piece[1..]),
            b'-' => (Order::Desc, &piece[1..]),
            _ => (Order::Desc, piece),
        };
        let (body_offset, body) = trim(offset + piece.len() - body.len(), body);
        let key = if body == RANK {
            SortExpr::Rank
        } else {
            SortExpr::Expr(parse_expr(ctx, codes::SORT, body_offset, body)?)
        };
        keys.push(SortKey { order, key });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::tests::demo_schema;
    use crate::filter::ArithOp;
    use pier_model::Schema;

    fn parse_with(text: &str, schema: Option<&Schema>) -> Result<Vec<SortKey>, QueryError> {
        parse_sort(&Ctx {
            clause: "sort",
            text,
            schema,
            kvpairs: None,
        })
    }

    fn key(order: Order, field: &str) -> SortKey {
        SortKey {
            order,
            key: SortExpr::Expr(Expr::Field(field.into())),
        }
    }

    #[test]
    fn signs_fields_rank_and_expressions() {
        assert_eq!(
            parse_with("-price;+RANK", None).unwrap(),
            vec![
                key(Order::Desc, "price"),
                SortKey {
                    order: Order::Asc,
                    key: SortExpr::Rank
                }
            ]
        );
        assert_eq!(
            parse_with("+field1; -field2 ;-RANK", None).unwrap(),
            vec![
                key(Order::Asc, "field1"),
                key(Order::Desc, "field2"),
                default_sort()[0].clone()
            ]
        );
        assert_eq!(
            parse_with("id", None).unwrap(),
            vec![key(Order::Desc, "id")]
        );
        assert_eq!(
            parse_with("-(hits + comments)", None).unwrap(),
            vec![SortKey {
                order: Order::Desc,
                key: SortExpr::Expr(Expr::Arith {
                    op: ArithOp::Add,
                    left: Box::new(Expr::Field("hits".into())),
                    right: Box::new(Expr::Field("comments".into())),
                }),
            }]
        );
        let keys = parse_with("+distance(lon,lat,\"120.34256\",\"30.56982\");-RANK", None).unwrap();
        assert!(
            matches!(&keys[0].key, SortExpr::Expr(Expr::Call { name, args }) if name == "distance" && args.len() == 4)
        );
        assert_eq!(keys[1].key, SortExpr::Rank);
    }

    #[test]
    fn errors() {
        for (text, place) in [
            ("-price;;+RANK", "at position 7"),
            ("-price;", "at the end"),
            ("+", "at the end"),
            ("-price*", "at the end"),
            ("-price cat", "at position 7"),
        ] {
            let e = parse_with(text, None).unwrap_err();
            assert_eq!(e.code, codes::SORT, "{text}");
            assert!(
                e.message.starts_with("sort clause: ") && e.message.contains(place),
                "{text}: {}",
                e.message
            );
        }
        let s = demo_schema();
        assert!(parse_with("-price;+buy;-RANK", Some(&s)).is_ok());
        let e = parse_with("-price;+title", Some(&s)).unwrap_err();
        assert_eq!(e.code, codes::NOT_ATTRIBUTE_FIELD);
        assert!(e.message.contains("at position 8"), "{}", e.message);
    }
}
