//! The aggregate clause (spec §4.2):
//! `group_key:cate_id,agg_fun:count()#sum(price)#max(price),range:10~50,agg_filter:price>10,agg_sampler_threshold:10000,agg_sampler_step:5,max_group:1000`,
//! several specs separated by `;`.

use crate::error::{Ctx, QueryError, codes};
use crate::fields::{attribute_names, attribute_type};
use crate::filter::{Expr, parse_expr};
use crate::number::{Number, parse_number};
use crate::split::{Piece, params, split_top, trim};

/// Groups returned per aggregate when `max_group` is not given.
pub const DEFAULT_MAX_GROUP: u32 = 1000;

/// The parameter names of an aggregate spec, for error messages.
const PARAMS: &str =
    "group_key, agg_fun, range, agg_filter, agg_sampler_threshold, agg_sampler_step, max_group";

/// An aggregate function; the arguments of sum/max/min/distinct_count are arithmetic
/// expressions of attribute fields.
#[derive(Debug, Clone, PartialEq)]
pub enum AggFun {
    /// `count()`: documents per group.
    Count,
    /// `sum(expr)`.
    Sum(Expr),
    /// `max(expr)`.
    Max(Expr),
    /// `min(expr)`.
    Min(Expr),
    /// `distinct_count(expr)`: distinct values per group.
    DistinctCount(Expr),
}

impl AggFun {
    /// The function name, which is also the key of its value in a facet item.
    pub fn name(&self) -> &'static str {
        match self {
            AggFun::Count => "count",
            AggFun::Sum(_) => "sum",
            AggFun::Max(_) => "max",
            AggFun::Min(_) => "min",
            AggFun::DistinctCount(_) => "distinct_count",
        }
    }
}

/// One aggregate spec: group documents by `group_key` and compute `functions` per group.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The attribute field to group by (`group_key`, required).
    pub group_key: String,
    /// The functions to compute (`agg_fun`, `#`-separated, required).
    pub functions: Vec<AggFun>,
    /// Bucket boundaries for numeric keys (`range:10~50` is below 10, 10–50 and above 50).
    pub range: Vec<Number>,
    /// Only documents matching this are counted (`agg_filter`).
    pub filter: Option<Expr>,
    /// Documents counted exactly before sampling starts (`agg_sampler_threshold`).
    pub sampler_threshold: Option<u64>,
    /// After the threshold, one document in this many is counted (`agg_sampler_step`).
    pub sampler_step: Option<u64>,
    /// Most groups returned (`max_group`, default [`DEFAULT_MAX_GROUP`]).
    pub max_group: u32,
    /// Several group keys at once, as SQL's `GROUP BY a, b` (none: one group of every
    /// document), for dialects whose aggregates group that way; V3 clauses never set it. When
    /// set, `group_key` and `range` are not used: each group is one combination of the fields'
    /// values (a multi-value field's whole list counts as one value), and the executor reports
    /// the values of each group's keys.
    pub group_by: Option<Vec<String>>,
}

/// Parses the aggregate clause value.
pub(crate) fn parse_aggregate(ctx: &Ctx<'_>) -> Result<Vec<Aggregate>, QueryError> {
    split_top(ctx.text, ";", true)
        .into_iter()
        .map(|(offset, piece)| parse_spec(ctx, trim(offset, piece)))
        .collect()
}

/// One `key:value,...` spec.
fn parse_spec(ctx: &Ctx<'_>, piece: Piece<'_>) -> Result<Aggregate, QueryError> {
    let err = |pos: usize, message: String| ctx.error(codes::AGGREGATE, pos, message);
    let pairs = params(piece).map_err(|pos| {
        err(
            pos,
            "expected key:value, as in group_key:cate_id,agg_fun:count()".to_string(),
        )
    })?;
    let mut spec = Aggregate {
        group_key: String::new(),
        functions: Vec::new(),
        range: Vec::new(),
        filter: None,
        sampler_threshold: None,
        sampler_step: None,
        max_group: DEFAULT_MAX_GROUP,
        group_by: None,
    };
    for ((key_pos, key), (pos, value)) in pairs {
        let whole = || {
            value
                .parse::<u64>()
                .map_err(|_| err(pos, format!("{key} must be a whole number")))
        };
        match key {
            "group_key" => spec.group_key = value.to_string(),
            "agg_fun" => spec.functions = parse_functions(ctx, (pos, value))?,
            "range" => {
                spec.range = value
                    .split('~')
                    .map(|n| parse_number(n.trim()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        err(
                            pos,
                            "range must be numbers separated by '~', as in range:10~50".to_string(),
                        )
                    })?
            }
            "agg_filter" => spec.filter = Some(parse_expr(ctx, codes::AGGREGATE, pos, value)?),
            "agg_sampler_threshold" => spec.sampler_threshold = Some(whole()?),
            "agg_sampler_step" => spec.sampler_step = Some(whole()?),
            "max_group" => {
                spec.max_group = u32::try_from(whole()?)
                    .map_err(|_| err(pos, format!("max_group must be at most {}", u32::MAX)))?
            }
            _ => {
                return Err(err(
                    key_pos,
                    format!("unknown aggregate parameter '{key}' (parameters: {PARAMS})"),
                ));
            }
        }
    }
    if spec.group_key.is_empty() {
        return Err(err(
            piece.0,
            "group_key is required, as in group_key:cate_id,agg_fun:count()".to_string(),
        ));
    }
    if spec.functions.is_empty() {
        return Err(err(
            piece.0,
            "agg_fun is required, as in agg_fun:count()#sum(price)".to_string(),
        ));
    }
    if let Some(schema) = ctx.schema
        && attribute_type(schema, &spec.group_key).is_none()
    {
        return Err(ctx.error(
            codes::NOT_ATTRIBUTE_FIELD,
            piece.0,
            format!(
                "group_key '{}' is not an attribute field (attribute fields: {})",
                spec.group_key,
                attribute_names(schema)
            ),
        ));
    }
    Ok(spec)
}

/// `count()#sum(price)#max(hits+replies)`.
fn parse_functions(ctx: &Ctx<'_>, piece: Piece<'_>) -> Result<Vec<AggFun>, QueryError> {
    let mut functions = Vec::new();
    for (offset, text) in split_top(piece.1, "#", true) {
        let (pos, text) = trim(piece.0 + offset, text);
        let call = text
            .split_once('(')
            .and_then(|(name, rest)| Some((name.trim(), rest.strip_suffix(')')?)));
        let Some((name, args)) = call else {
            return Err(ctx.error(
                codes::AGGREGATE,
                pos,
                "expected a function: count(), sum(field), max(field), min(field) or distinct_count(field)",
            ));
        };
        let args_pos = pos + text.len() - 1 - args.len();
        let arg = || parse_expr(ctx, codes::AGGREGATE, args_pos, args);
        functions.push(match name {
            "count" if args.trim().is_empty() => AggFun::Count,
            "sum" => AggFun::Sum(arg()?),
            "max" => AggFun::Max(arg()?),
            "min" => AggFun::Min(arg()?),
            "distinct_count" => AggFun::DistinctCount(arg()?),
            "count" => {
                return Err(ctx.error(
                    codes::AGGREGATE,
                    args_pos,
                    "count takes no argument: write count()",
                ));
            }
            _ => {
                return Err(ctx.error(
                    codes::AGGREGATE,
                    pos,
                    format!("unknown aggregate function '{name}': use count, sum, max, min or distinct_count"),
                ));
            }
        });
    }
    Ok(functions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::tests::demo_schema;
    use crate::filter::{ArithOp, CmpOp};
    use pier_model::Schema;

    fn parse_with(text: &str, schema: Option<&Schema>) -> Result<Vec<Aggregate>, QueryError> {
        parse_aggregate(&Ctx {
            clause: "aggregate",
            text,
            schema,
            kvpairs: None,
        })
    }

    fn field(name: &str) -> Expr {
        Expr::Field(name.into())
    }

    #[test]
    fn reads_the_spec_example() {
        let a = parse_with(
            "group_key:cate_id,agg_fun:count()#sum(price)#max(price),range:10~50,agg_filter:price>10,agg_sampler_threshold:10000,agg_sampler_step:5,max_group:1000",
            Some(&demo_schema()),
        )
        .unwrap();
        assert_eq!(
            a,
            vec![Aggregate {
                group_key: "cate_id".into(),
                functions: vec![
                    AggFun::Count,
                    AggFun::Sum(field("price")),
                    AggFun::Max(field("price"))
                ],
                range: vec![Number::Int(10), Number::Int(50)],
                filter: Some(Expr::Compare {
                    op: CmpOp::Gt,
                    left: Box::new(field("price")),
                    right: Box::new(Expr::Number(Number::Int(10))),
                }),
                sampler_threshold: Some(10000),
                sampler_step: Some(5),
                max_group: 1000,
                group_by: None,
            }]
        );
        assert_eq!(
            a[0].functions.iter().map(AggFun::name).collect::<Vec<_>>(),
            vec!["count", "sum", "max"]
        );
    }

    #[test]
    fn several_specs_and_expressions() {
        // From the aggregate docs, with their spaces after commas.
        let a = parse_with(
            "group_key:group_id,agg_fun:sum(price)#max(price);group_key:company_id,agg_fun:count(); group_key:group_id,agg_fun:max(hits+replies)#min(x)#distinct_count(user), agg_filter:create_timestamp>1423456781",
            None,
        )
        .unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[1].functions, vec![AggFun::Count]);
        assert_eq!(a[1].max_group, DEFAULT_MAX_GROUP);
        assert_eq!(
            a[2].functions,
            vec![
                AggFun::Max(Expr::Arith {
                    op: ArithOp::Add,
                    left: Box::new(field("hits")),
                    right: Box::new(field("replies"))
                }),
                AggFun::Min(field("x")),
                AggFun::DistinctCount(field("user")),
            ]
        );
        assert!(a[2].filter.is_some());
    }

    #[test]
    fn errors() {
        let cases = [
            ("agg_fun:count()", "group_key is required"),
            ("group_key:a", "agg_fun is required"),
            (
                "group_key:a,agg_fun:avg(x)",
                "unknown aggregate function 'avg'",
            ),
            ("group_key:a,agg_fun:count", "expected a function"),
            ("group_key:a,agg_fun:sum()", "expected a field"),
            ("group_key:a,agg_fun:count(x)", "count takes no argument"),
            ("group_key:a,agg_fun:count(),range:10~x", "range"),
            ("group_key:a,agg_fun:count(),max_group:-1", "whole number"),
            (
                "group_key:a,agg_fun:count(),agg_sampler_step:x",
                "whole number",
            ),
            (
                "group_key:a,agg_fun:count(),agg_filter:a>",
                "expected a field",
            ),
            (
                "group_key:a,agg_fun:count(),order:x",
                "unknown aggregate parameter 'order'",
            ),
            ("group_key:a,agg_fun:count();", "group_key is required"),
        ];
        for (text, what) in cases {
            let e = parse_with(text, None).unwrap_err();
            assert_eq!(e.code, codes::AGGREGATE, "{text}");
            assert!(e.message.contains(what), "{text}: {}", e.message);
        }
        let e = parse_with("group_key:a,agg_fun:sum(x +)", None).unwrap_err();
        assert!(e.message.contains("at position 27"), "{}", e.message);
        let s = demo_schema();
        assert_eq!(
            parse_with("group_key:title,agg_fun:count()", Some(&s))
                .unwrap_err()
                .code,
            codes::NOT_ATTRIBUTE_FIELD
        );
        assert_eq!(
            parse_with("group_key:cate_id,agg_fun:sum(title)", Some(&s))
                .unwrap_err()
                .code,
            codes::NOT_ATTRIBUTE_FIELD
        );
    }
}
