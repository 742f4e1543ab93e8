//! The functions of the filter language beyond `in()`/`notin()` (spec §4.2): `fieldlen(field)`
//! and `distance(...)`. [`resolve_call`] checks a call's arguments against the field types and
//! says what the call computes; the parser uses it to point at the offending argument, the
//! executor to compile the call (also for filters that other dialects translate).

use crate::codes;
use crate::filter::Expr;
use crate::number::parse_number;
use pier_model::FieldType;

/// The functions a filter, sort key, `dist_filter` or `agg_filter` may call, for messages.
pub const FUNCTIONS: &str = "in(), notin(), fieldlen(), distance()";

/// How `distance` is written, for messages.
const DISTANCE_FORMS: &str = "distance(lon_field, lat_field, \"120.34\", \"30.56\") or distance(geo_point_field, \"120.34\", \"30.56\")";

/// A call the executor knows how to compute, with its arguments sorted out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Function<'e> {
    /// `fieldlen(field)`: the byte length of a LITERAL value, or the number of elements of an
    /// array field; 0 when the document has no value.
    FieldLen(&'e str),
    /// `distance(a, b)`: the great-circle distance in kilometres between two points.
    Distance([Point<'e>; 2]),
}

/// One point of a `distance` call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point<'e> {
    /// A GEO_POINT field (`"lon lat"`).
    Geo(&'e str),
    /// A longitude and a latitude, each a numeric field, a number or a quoted number.
    LonLat(&'e Expr, &'e Expr),
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The offending argument's index, or None when the call as a whole is wrong.
    pub arg: Option<usize>,
    /// [`codes::NOT_ATTRIBUTE_FIELD`] for an argument that is not an attribute field, else
    /// None: the calling clause's syntax code applies.
    pub code: Option<u32>,
    /// What is wrong and what to write instead.
    pub message: String,
}

fn refuse(arg: Option<usize>, message: String) -> CallError {
    CallError {
        arg,
        code: None,
        message,
    }
}

/// Checks the call `name(args)`. `field_type` gives the type of an attribute field (None for a
/// name that is not one).
pub fn resolve_call<'e>(
    name: &str,
    args: &'e [Expr],
    field_type: impl Fn(&str) -> Option<FieldType>,
) -> Result<Function<'e>, CallError> {
    let typed = |i: usize, field: &str| {
        field_type(field).ok_or_else(|| CallError {
            arg: Some(i),
            code: Some(codes::NOT_ATTRIBUTE_FIELD),
            message: format!("{name}(): '{field}' is not an attribute field"),
        })
    };
    match name {
        "fieldlen" => {
            let usage = "fieldlen takes one LITERAL or array attribute field, as in fieldlen(tags)";
            let [arg] = args else {
                return Err(refuse(
                    None,
                    format!("{usage}; found {} arguments", args.len()),
                ));
            };
            let Expr::Field(field) = arg else {
                return Err(refuse(Some(0), usage.to_string()));
            };
            let ty = typed(0, field)?;
            if ty != FieldType::Literal && ty.element().is_none() {
                return Err(refuse(Some(0), format!("{usage}; '{field}' is {ty:?}")));
            }
            Ok(Function::FieldLen(field))
        }
        "distance" => {
            let mut points = Vec::with_capacity(2);
            let mut i = 0;
            while points.len() < 2 && i < args.len() {
                if let Expr::Field(field) = &args[i]
                    && typed(i, field)? == FieldType::GeoPoint
                {
                    points.push(Point::Geo(field));
                    i += 1;
                    continue;
                }
                let Some(lat) = args.get(i + 1) else {
                    return Err(refuse(
                        None,
                        format!(
                            "distance(): the longitude at argument {} has no latitude after it: write {DISTANCE_FORMS}",
                            i + 1
                        ),
                    ));
                };
                coordinate(&args[i], i, 180.0, "longitude", &typed)?;
                coordinate(lat, i + 1, 90.0, "latitude", &typed)?;
                points.push(Point::LonLat(&args[i], lat));
                i += 2;
            }
            // An optional last argument names the output (the cloud's `output_name`); pier
            // computes the distance the same way with or without it.
            let rest = &args[i..];
            match (<[Point; 2]>::try_from(points), rest) {
                (Ok(points), [] | [Expr::Str(_)]) => Ok(Function::Distance(points)),
                (Ok(_), _) => Err(refuse(
                    Some(i),
                    format!(
                        "distance() takes two points and an optional \"output_name\": write {DISTANCE_FORMS}"
                    ),
                )),
                (Err(_), _) => Err(refuse(
                    None,
                    format!("distance() takes two points: write {DISTANCE_FORMS}"),
                )),
            }
        }
        _ => Err(refuse(
            None,
            format!("function {name}() is not supported; supported: {FUNCTIONS}"),
        )),
    }
}

/// Checks a longitude or latitude argument: a numeric attribute field, an expression of them, a
/// number or a quoted number within ±`bound`.
fn coordinate(
    arg: &Expr,
    i: usize,
    bound: f64,
    what: &str,
    typed: &impl Fn(usize, &str) -> Result<FieldType, CallError>,
) -> Result<(), CallError> {
    let constant = match arg {
        Expr::Field(field) => {
            let ty = typed(i, field)?;
            return match ty {
                FieldType::Int | FieldType::Float | FieldType::Double => Ok(()),
                _ => Err(refuse(
                    Some(i),
                    format!(
                        "distance(): the {what} '{field}' is {ty:?}; use a numeric field, a GEO_POINT field in place of both coordinates, or a number: {DISTANCE_FORMS}"
                    ),
                )),
            };
        }
        Expr::Number(n) => n.as_f64(),
        Expr::Str(s) => match parse_number(s.trim()) {
            Some(n) => n.as_f64(),
            None => {
                return Err(refuse(
                    Some(i),
                    format!("distance(): the {what} \"{s}\" is not a number"),
                ));
            }
        },
        _ => return Ok(()),
    };
    if constant.abs() > bound {
        return Err(refuse(
            Some(i),
            format!("distance(): the {what} {constant} is outside -{bound}..{bound}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::Number;

    fn types(name: &str) -> Option<FieldType> {
        Some(match name {
            "loc" => FieldType::GeoPoint,
            "lon" | "lat" => FieldType::Double,
            "cat" => FieldType::Int,
            "brand" => FieldType::Literal,
            "tags" => FieldType::LiteralArray,
            "ids" => FieldType::IntArray,
            _ => return None,
        })
    }

    fn f(name: &str) -> Expr {
        Expr::Field(name.into())
    }

    fn s(text: &str) -> Expr {
        Expr::Str(text.into())
    }

    #[test]
    fn fieldlen_takes_a_literal_or_array_field() {
        for field in ["brand", "tags", "ids"] {
            assert_eq!(
                resolve_call("fieldlen", &[f(field)], types),
                Ok(Function::FieldLen(field))
            );
        }
        let e = resolve_call("fieldlen", &[f("cat")], types).unwrap_err();
        assert_eq!((e.arg, e.code), (Some(0), None));
        assert!(e.message.contains("'cat' is Int"), "{}", e.message);
        let e = resolve_call("fieldlen", &[f("nope")], types).unwrap_err();
        assert_eq!(e.code, Some(codes::NOT_ATTRIBUTE_FIELD));
        let e = resolve_call("fieldlen", &[f("brand"), f("tags")], types).unwrap_err();
        assert_eq!(e.arg, None);
        assert!(e.message.contains("found 2 arguments"), "{}", e.message);
        assert_eq!(
            resolve_call("fieldlen", &[s("x")], types).unwrap_err().arg,
            Some(0)
        );
    }

    #[test]
    fn distance_takes_two_points_of_either_form() {
        let args = [f("lon"), f("lat"), s("120.34256"), s("30.56982")];
        assert_eq!(
            resolve_call("distance", &args, types),
            Ok(Function::Distance([
                Point::LonLat(&args[0], &args[1]),
                Point::LonLat(&args[2], &args[3])
            ]))
        );
        let args = [f("loc"), Expr::Number(Number::Float(120.3)), s("30")];
        assert_eq!(
            resolve_call("distance", &args, types),
            Ok(Function::Distance([
                Point::Geo("loc"),
                Point::LonLat(&args[1], &args[2])
            ]))
        );
        let args = [s("120.3"), s("30"), f("loc"), s("dist")];
        assert!(resolve_call("distance", &args, types).is_ok());
        assert!(resolve_call("distance", &[f("loc"), f("loc")], types).is_ok());
    }

    #[test]
    fn distance_points_at_the_bad_argument() {
        let cases: &[(&[Expr], Option<usize>, &str)] = &[
            (&[f("loc")], None, "two points"),
            (&[f("loc"), s("120")], None, "no latitude"),
            (
                &[f("brand"), f("lat"), f("loc")],
                Some(0),
                "'brand' is Literal",
            ),
            (
                &[f("loc"), s("120"), s("north")],
                Some(2),
                "\"north\" is not a number",
            ),
            (&[f("loc"), s("190"), s("30")], Some(1), "longitude 190"),
            (&[f("loc"), s("120"), s("-91")], Some(2), "latitude -91"),
            (
                &[f("loc"), f("loc"), f("loc")],
                Some(2),
                "optional \"output_name\"",
            ),
        ];
        for (args, arg, needle) in cases {
            let e = resolve_call("distance", args, types).unwrap_err();
            assert_eq!(e.arg, *arg, "{args:?}: {}", e.message);
            assert!(e.message.contains(needle), "{args:?}: {}", e.message);
        }
        let e = resolve_call("distance", &[f("nope"), f("loc")], types).unwrap_err();
        assert_eq!((e.arg, e.code), (Some(0), Some(codes::NOT_ATTRIBUTE_FIELD)));
    }

    #[test]
    fn unknown_functions_list_the_known_ones() {
        let e = resolve_call("now", &[], types).unwrap_err();
        assert!(e.message.contains("now() is not supported") && e.message.contains(FUNCTIONS));
    }
}
