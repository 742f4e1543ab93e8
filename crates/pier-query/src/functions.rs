//! The functions of the filter language beyond `in()`/`notin()` (spec §4.2): `fieldlen(field)`,
//! `distance(...)`, and the cloud's functionality functions `in_polygon`, `in_query_polygon`,
//! `bit_struct` and `multi_attr` (documented on the OpenSearch help pages of those names).
//! [`resolve_call`] checks a call's arguments against the field types and
//! says what the call computes; the parser uses it to point at the offending argument, the
//! executor to compile the call (also for filters that other dialects translate).

use crate::bit_struct::{self, BitStruct, MAX_OPERATIONS};
use crate::codes;
use crate::filter::Expr;
use crate::number::{Number, parse_number};
use crate::polygon::{Polygon, parse_query_polygons};
use pier_model::FieldType;

/// The functions a filter, sort key, `dist_filter` or `agg_filter` may call, for messages.
pub const FUNCTIONS: &str = "in(), notin(), fieldlen(), distance(), in_polygon(), in_query_polygon(), bit_struct(), multi_attr()";

/// How `distance` is written, for messages.
const DISTANCE_FORMS: &str = "distance(lon_field, lat_field, \"120.34\", \"30.56\") or distance(geo_point_field, \"120.34\", \"30.56\")";

/// A call the executor knows how to compute, with its arguments sorted out.
#[derive(Debug, Clone, PartialEq)]
pub enum Function<'e> {
    /// `fieldlen(field)`: the byte length of a LITERAL value, or the number of elements of an
    /// array field; 0 when the document has no value.
    FieldLen(&'e str),
    /// `distance(a, b)`: the great-circle distance in kilometres between two points.
    Distance([Point<'e>; 2]),
    /// `in_polygon(polygon_field, x, y[, "has_multi_polygons"])`: the 1-based index of the
    /// first polygon of the document's numeric array field containing the point `(x, y)`, or
    /// 0 (see [`crate::polygon::doc_polygons`] for the field's layouts).
    InPolygon {
        /// The numeric array field holding the polygons.
        field: &'e str,
        /// The point's x (longitude).
        x: &'e Expr,
        /// The point's y (latitude).
        y: &'e Expr,
        /// Whether the field uses the multi-polygon layout.
        multi: bool,
    },
    /// `in_query_polygon("polygon_key", doc_point)`: the 1-based index of the first of the
    /// request's polygons (a kvpairs value `x1,y1,...;...`) containing the document's point,
    /// or 0.
    InQueryPolygon {
        /// The polygons, from the kvpairs value.
        polygons: Vec<Polygon>,
        /// The document's point: a numeric array `[x, y]`, a GEO_POINT, or a LITERAL
        /// `"x y"`.
        point: &'e str,
    },
    /// `bit_struct(field, "definition", "operation", ...)`: see [`crate::bit_struct`].
    BitStruct {
        /// The INT_ARRAY (or INT) field.
        field: &'e str,
        /// The parts and operations.
        spec: BitStruct,
    },
    /// `multi_attr(field, pos[, "default"])`: the array field's value at 0-based `pos`, else
    /// the default (0, or "" for a LITERAL_ARRAY, when none is given).
    MultiAttr {
        /// The array field.
        field: &'e str,
        /// The position: an integer constant or an INT field.
        pos: &'e Expr,
        /// The value when there is none at `pos`.
        default: Option<&'e str>,
    },
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
        "in_polygon" => in_polygon(args, &typed),
        "in_query_polygon" => in_query_polygon(args, &typed),
        "bit_struct" => bit_struct_call(args, &typed),
        "multi_attr" => multi_attr(args, &typed),
        _ => Err(refuse(
            None,
            format!("function {name}() is not supported; supported: {FUNCTIONS}"),
        )),
    }
}

/// How `in_polygon` is written, for messages.
const IN_POLYGON_FORM: &str = "in_polygon(polygon_field, 120.307, 39.294) or in_polygon(polygon_field, 120.307, 39.294, \"true\") for the multi-polygon layout";

fn in_polygon<'e>(
    args: &'e [Expr],
    typed: &impl Fn(usize, &str) -> Result<FieldType, CallError>,
) -> Result<Function<'e>, CallError> {
    let (field, x, y, flag) = match args {
        [f, x, y] => (f, x, y, None),
        [f, x, y, flag] => (f, x, y, Some(flag)),
        _ => {
            return Err(refuse(
                None,
                format!(
                    "in_polygon() takes 3 or 4 arguments, found {}: write {IN_POLYGON_FORM}",
                    args.len()
                ),
            ));
        }
    };
    let Expr::Field(field) = field else {
        return Err(refuse(
            Some(0),
            format!(
                "in_polygon(): the first argument must be a DOUBLE_ARRAY field: write {IN_POLYGON_FORM}"
            ),
        ));
    };
    let ty = typed(0, field)?;
    if !matches!(
        ty.element(),
        Some(FieldType::Double | FieldType::Float | FieldType::Int)
    ) {
        return Err(refuse(
            Some(0),
            format!(
                "in_polygon(): '{field}' is {ty:?}; the polygons must be in a DOUBLE_ARRAY field"
            ),
        ));
    }
    number_arg("in_polygon", x, 1, "x coordinate", typed)?;
    number_arg("in_polygon", y, 2, "y coordinate", typed)?;
    let multi = match flag {
        None => false,
        Some(Expr::Str(s)) if s.trim().eq_ignore_ascii_case("true") => true,
        Some(Expr::Str(s)) if s.trim().eq_ignore_ascii_case("false") => false,
        Some(Expr::Number(Number::Int(i @ (0 | 1)))) => *i == 1,
        Some(_) => {
            return Err(refuse(
                Some(3),
                "in_polygon(): has_multi_polygons must be \"true\" or \"false\"".to_string(),
            ));
        }
    };
    Ok(Function::InPolygon { field, x, y, multi })
}

/// How `in_query_polygon` is written, for messages.
const IN_QUERY_POLYGON_FORM: &str = "in_query_polygon(\"polygons\", point_field)&&kvpairs=polygons:x1\\,y1\\,x2\\,y2\\,x3\\,y3;x4\\,y4...";

fn in_query_polygon<'e>(
    args: &'e [Expr],
    typed: &impl Fn(usize, &str) -> Result<FieldType, CallError>,
) -> Result<Function<'e>, CallError> {
    let [polygons, point] = args else {
        return Err(refuse(
            None,
            format!(
                "in_query_polygon() takes 2 arguments, found {}: write {IN_QUERY_POLYGON_FORM}",
                args.len()
            ),
        ));
    };
    // The parser has replaced a kvpairs key by its value.
    let Expr::Str(text) = polygons else {
        return Err(refuse(
            Some(0),
            format!(
                "in_query_polygon(): the first argument must name a kvpairs key holding the polygons: write {IN_QUERY_POLYGON_FORM}"
            ),
        ));
    };
    let polygons = parse_query_polygons(text).map_err(|why| {
        refuse(
            Some(0),
            format!(
                "in_query_polygon(): \"{text}\" is not a key of the kvpairs clause, nor polygons x1,y1,x2,y2,...;... ({why}): write {IN_QUERY_POLYGON_FORM}"
            ),
        )
    })?;
    let Expr::Field(point) = point else {
        return Err(refuse(
            Some(1),
            "in_query_polygon(): the second argument must be the document's point field (DOUBLE_ARRAY [x, y], GEO_POINT or LITERAL \"x y\")".to_string(),
        ));
    };
    let ty = typed(1, point)?;
    if !matches!(
        ty,
        FieldType::DoubleArray
            | FieldType::FloatArray
            | FieldType::IntArray
            | FieldType::GeoPoint
            | FieldType::Literal
    ) {
        return Err(refuse(
            Some(1),
            format!(
                "in_query_polygon(): '{point}' is {ty:?}; the point must be a DOUBLE_ARRAY [x, y], GEO_POINT or LITERAL \"x y\" field"
            ),
        ));
    }
    Ok(Function::InQueryPolygon { polygons, point })
}

/// How `bit_struct` is written, for messages.
const BIT_STRUCT_FORM: &str =
    "bit_struct(int_array_field, \"0-31,32-63\", \"overlap,$1,$2,840,930\")";

fn bit_struct_call<'e>(
    args: &'e [Expr],
    typed: &impl Fn(usize, &str) -> Result<FieldType, CallError>,
) -> Result<Function<'e>, CallError> {
    if args.len() < 3 || args.len() > 2 + MAX_OPERATIONS {
        return Err(refuse(
            None,
            format!(
                "bit_struct() takes a field, a struct definition and 1 to {MAX_OPERATIONS} operations, found {} arguments: write {BIT_STRUCT_FORM}",
                args.len()
            ),
        ));
    }
    let Expr::Field(field) = &args[0] else {
        return Err(refuse(
            Some(0),
            format!(
                "bit_struct(): the first argument must be an INT_ARRAY field: write {BIT_STRUCT_FORM}"
            ),
        ));
    };
    let ty = typed(0, field)?;
    if !matches!(ty, FieldType::IntArray | FieldType::Int) {
        return Err(refuse(
            Some(0),
            format!("bit_struct(): '{field}' is {ty:?}; use an INT_ARRAY field"),
        ));
    }
    let quoted = |i: usize| match &args[i] {
        Expr::Str(s) => Ok(s.as_str()),
        _ => Err(refuse(
            Some(i),
            format!(
                "bit_struct(): argument {} must be double-quoted: write {BIT_STRUCT_FORM}",
                i + 1
            ),
        )),
    };
    let parts = bit_struct::parse_definition(quoted(1)?).map_err(|m| refuse(Some(1), m))?;
    let mut ops = Vec::with_capacity(args.len() - 2);
    for i in 2..args.len() {
        let number = parts.len() + ops.len() + 1;
        ops.push(bit_struct::parse_operation(quoted(i)?, number).map_err(|m| refuse(Some(i), m))?);
    }
    Ok(Function::BitStruct {
        field,
        spec: BitStruct { parts, ops },
    })
}

/// How `multi_attr` is written, for messages.
const MULTI_ATTR_FORM: &str = "multi_attr(prices, 2) or multi_attr(prices, 1, \"600\")";

fn multi_attr<'e>(
    args: &'e [Expr],
    typed: &impl Fn(usize, &str) -> Result<FieldType, CallError>,
) -> Result<Function<'e>, CallError> {
    let (field, pos, default) = match args {
        [f, p] => (f, p, None),
        [f, p, d] => (f, p, Some(d)),
        _ => {
            return Err(refuse(
                None,
                format!(
                    "multi_attr() takes 2 or 3 arguments, found {}: write {MULTI_ATTR_FORM}",
                    args.len()
                ),
            ));
        }
    };
    let Expr::Field(field) = field else {
        return Err(refuse(
            Some(0),
            format!(
                "multi_attr(): the first argument must be an array field: write {MULTI_ATTR_FORM}"
            ),
        ));
    };
    let ty = typed(0, field)?;
    let Some(element) = ty.element() else {
        return Err(refuse(
            Some(0),
            format!(
                "multi_attr(): '{field}' is {ty:?}; use an array field (INT_ARRAY, FLOAT_ARRAY, DOUBLE_ARRAY, LITERAL_ARRAY)"
            ),
        ));
    };
    let bad_pos = || {
        refuse(
            Some(1),
            format!(
                "multi_attr(): the position must be a whole number from 0 or an INT field: write {MULTI_ATTR_FORM}"
            ),
        )
    };
    match pos {
        Expr::Number(Number::Int(i)) if *i >= 0 => {}
        Expr::Str(s) if s.trim().parse::<u32>().is_ok() => {}
        Expr::Field(f) => {
            if typed(1, f)? != FieldType::Int {
                return Err(bad_pos());
            }
        }
        _ => return Err(bad_pos()),
    }
    let default = match default {
        None => None,
        Some(Expr::Str(s)) => {
            if element != FieldType::Literal && parse_number(s.trim()).is_none() {
                return Err(refuse(
                    Some(2),
                    format!(
                        "multi_attr(): '{field}' holds numbers, so the default \"{s}\" must be a number"
                    ),
                ));
            }
            Some(s.as_str())
        }
        Some(_) => {
            return Err(refuse(
                Some(2),
                format!("multi_attr(): the default must be double-quoted: write {MULTI_ATTR_FORM}"),
            ));
        }
    };
    Ok(Function::MultiAttr {
        field,
        pos,
        default,
    })
}

/// Checks a numeric argument of `function`: a numeric attribute field, an expression, a
/// number or a quoted number.
fn number_arg(
    function: &str,
    arg: &Expr,
    i: usize,
    what: &str,
    typed: &impl Fn(usize, &str) -> Result<FieldType, CallError>,
) -> Result<(), CallError> {
    match arg {
        Expr::Field(field) => match typed(i, field)? {
            FieldType::Int | FieldType::Float | FieldType::Double => Ok(()),
            ty => Err(refuse(
                Some(i),
                format!(
                    "{function}(): the {what} '{field}' is {ty:?}; use a number or a numeric field"
                ),
            )),
        },
        Expr::Str(s) if parse_number(s.trim()).is_none() => Err(refuse(
            Some(i),
            format!("{function}(): the {what} \"{s}\" is not a number"),
        )),
        _ => Ok(()),
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
            "area" => FieldType::DoubleArray,
            "rates" => FieldType::FloatArray,
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

    fn n(i: i64) -> Expr {
        Expr::Number(Number::Int(i))
    }

    /// The error's argument index and whether its message holds `needle`.
    fn refused(name: &str, args: &[Expr], arg: Option<usize>, needle: &str) {
        let e = resolve_call(name, args, types).unwrap_err();
        assert_eq!(e.arg, arg, "{name}{args:?}: {}", e.message);
        assert!(e.message.contains(needle), "{name}{args:?}: {}", e.message);
    }

    #[test]
    fn in_polygon_takes_a_numeric_array_and_a_point() {
        let args = [f("area"), s("120.3"), Expr::Number(Number::Float(30.5))];
        assert_eq!(
            resolve_call("in_polygon", &args, types),
            Ok(Function::InPolygon {
                field: "area",
                x: &args[1],
                y: &args[2],
                multi: false
            })
        );
        let args = [f("area"), f("lon"), f("lat"), s("TRUE")];
        assert!(matches!(
            resolve_call("in_polygon", &args, types),
            Ok(Function::InPolygon { multi: true, .. })
        ));
        refused("in_polygon", &[f("area"), n(1)], None, "3 or 4 arguments");
        refused(
            "in_polygon",
            &[f("brand"), n(1), n(2)],
            Some(0),
            "'brand' is Literal",
        );
        refused("in_polygon", &[s("x"), n(1), n(2)], Some(0), "DOUBLE_ARRAY");
        refused(
            "in_polygon",
            &[f("area"), s("east"), n(2)],
            Some(1),
            "\"east\" is not a number",
        );
        refused(
            "in_polygon",
            &[f("area"), n(1), f("brand")],
            Some(2),
            "'brand' is Literal",
        );
        refused(
            "in_polygon",
            &[f("area"), n(1), n(2), s("yes")],
            Some(3),
            "\"true\" or \"false\"",
        );
        let e = resolve_call("in_polygon", &[f("nope"), n(1), n(2)], types).unwrap_err();
        assert_eq!((e.arg, e.code), (Some(0), Some(codes::NOT_ATTRIBUTE_FIELD)));
    }

    #[test]
    fn in_query_polygon_reads_the_polygons_and_a_point_field() {
        for point in ["area", "loc", "brand"] {
            let args = [s("0,0,1,0,1,1;5,5,6,5,6,6"), f(point)];
            let Ok(Function::InQueryPolygon { polygons, point: p }) =
                resolve_call("in_query_polygon", &args, types)
            else {
                panic!("{point}");
            };
            assert_eq!((polygons.len(), p), (2, point));
        }
        refused(
            "in_query_polygon",
            &[s("polygons"), f("loc")],
            Some(0),
            "not a key of the kvpairs clause",
        );
        refused(
            "in_query_polygon",
            &[s("0,0,1,1"), f("loc")],
            Some(0),
            "at least 3",
        );
        refused(
            "in_query_polygon",
            &[s("0,0,1,0,1,1"), f("cat")],
            Some(1),
            "'cat' is Int",
        );
        refused(
            "in_query_polygon",
            &[s("0,0,1,0,1,1"), s("1 2")],
            Some(1),
            "point field",
        );
        refused(
            "in_query_polygon",
            &[s("0,0,1,0,1,1")],
            None,
            "takes 2 arguments",
        );
    }

    #[test]
    fn bit_struct_parses_its_definition_and_operations() {
        let args = [f("ids"), s("0-31,32-63"), s("overlap,$1,$2,840,930")];
        let Ok(Function::BitStruct { field, spec }) = resolve_call("bit_struct", &args, types)
        else {
            panic!()
        };
        assert_eq!((field, spec.parts), ("ids", vec![(0, 31), (32, 63)]));
        assert!(resolve_call("bit_struct", &[f("cat"), s("0-63"), s("equal,$1,3")], types).is_ok());
        refused(
            "bit_struct",
            &[f("ids"), s("0-31")],
            None,
            "1 to 5 operations",
        );
        let six = [
            f("ids"),
            s("0-63"),
            s("equal,$1,1"),
            s("equal,$1,1"),
            s("equal,$1,1"),
            s("equal,$1,1"),
            s("equal,$1,1"),
            s("equal,$1,1"),
        ];
        refused("bit_struct", &six, None, "found 8 arguments");
        refused(
            "bit_struct",
            &[f("tags"), s("0-63"), s("equal,$1,1")],
            Some(0),
            "INT_ARRAY",
        );
        refused(
            "bit_struct",
            &[f("ids"), n(5), s("equal,$1,1")],
            Some(1),
            "double-quoted",
        );
        refused(
            "bit_struct",
            &[f("ids"), s("0-64"), s("equal,$1,1")],
            Some(1),
            "0-64",
        );
        refused(
            "bit_struct",
            &[f("ids"), s("0-63"), s("equal,$1,$2")],
            Some(2),
            "refers to $2",
        );
        refused(
            "bit_struct",
            &[f("ids"), s("0-63"), s("equal,$1,1"), s("and,$2,$9")],
            Some(3),
            "refers to $9",
        );
    }

    #[test]
    fn multi_attr_takes_an_array_a_position_and_a_default() {
        let args = [f("rates"), n(2)];
        assert_eq!(
            resolve_call("multi_attr", &args, types),
            Ok(Function::MultiAttr {
                field: "rates",
                pos: &args[1],
                default: None
            })
        );
        let args = [f("tags"), f("cat"), s("none")];
        assert!(matches!(
            resolve_call("multi_attr", &args, types),
            Ok(Function::MultiAttr {
                default: Some("none"),
                ..
            })
        ));
        assert!(resolve_call("multi_attr", &[f("ids"), s("1"), s("600")], types).is_ok());
        refused("multi_attr", &[f("ids")], None, "2 or 3 arguments");
        refused("multi_attr", &[f("cat"), n(0)], Some(0), "'cat' is Int");
        refused("multi_attr", &[f("ids"), n(-1)], Some(1), "whole number");
        refused("multi_attr", &[f("ids"), f("lon")], Some(1), "whole number");
        refused(
            "multi_attr",
            &[f("ids"), n(1), n(600)],
            Some(2),
            "double-quoted",
        );
        refused(
            "multi_attr",
            &[f("ids"), n(1), s("many")],
            Some(2),
            "must be a number",
        );
    }

    #[test]
    fn unknown_functions_list_the_known_ones() {
        let e = resolve_call("now", &[], types).unwrap_err();
        assert!(e.message.contains("now() is not supported") && e.message.contains(FUNCTIONS));
    }
}
