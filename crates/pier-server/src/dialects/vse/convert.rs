//! Translations between the Vector Search Edition's wire model ([`pier_vse`]) and the engine:
//! table schemas, push operations and filters.

use pier_engine::sparse::SparseFields;
use pier_engine::vectors::{VectorIndexSpec, VectorMetric, VectorStorage};
use pier_model::{FieldSchema, FieldType, Indexes, Schema, SearchIndex, TableSchema};
use pier_vse::params::Precision;
use pier_vse::{DistanceType, FieldType as VseType, VectorIndexType, VectorTableSchema};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// HNSW defaults when a table gives none: the cloud's defaults (`max_neighbor_count` 100,
/// `efconstruction` 500) build 5–10× slower on two cores for a recall gain that
/// `ef` at search time buys more cheaply.
const DEFAULT_M: usize = 16;
const DEFAULT_EF_CONSTRUCTION: usize = 128;

/// The engine app that holds Vector Search Edition table `table` (`/` keeps it apart from V3
/// app names, which cannot contain one).
pub fn app_name(table: &str) -> String {
    format!("vse/{table}")
}

/// The storage type of a field.
fn storage_type(t: VseType, vector: bool) -> FieldType {
    if vector {
        return FieldType::FloatArray;
    }
    match t {
        VseType::Float => FieldType::Float,
        VseType::Double => FieldType::Double,
        VseType::String => FieldType::Literal,
        VseType::Text => FieldType::Text,
        VseType::MultiFloat => FieldType::FloatArray,
        VseType::MultiDouble => FieldType::DoubleArray,
        VseType::MultiString => FieldType::LiteralArray,
        t if t.is_multi() => FieldType::IntArray,
        _ => FieldType::Int,
    }
}

/// The engine's schema and vector indexes for a table: every non-vector, non-TEXT field is a
/// filter attribute; each TEXT field is a search index of its own name (English stemming
/// analyzer; CJK runs are split by jieba), and `default` covers all TEXT fields.
pub fn engine_schema(t: &VectorTableSchema) -> (Schema, Vec<VectorIndexSpec>) {
    let fields: Vec<FieldSchema> = t
        .fields
        .iter()
        .map(|f| FieldSchema {
            name: f.name.clone(),
            field_type: storage_type(f.field_type, t.is_vector_field(&f.name)),
            primary_key: f.name == t.primary_key,
            join_with: None,
        })
        .collect();
    let text: Vec<String> = t.text_index_fields().map(|f| f.name.clone()).collect();
    let mut search_fields: Vec<SearchIndex> = text
        .iter()
        .map(|f| SearchIndex {
            name: f.clone(),
            fields: vec![f.clone()],
            analyzer: pier_model::Analyzer::ChnStandard,
        })
        .collect();
    if !text.is_empty() && !text.iter().any(|f| f == "default") {
        search_fields.push(SearchIndex {
            name: "default".into(),
            fields: text.clone(),
            analyzer: pier_model::Analyzer::ChnStandard,
        });
    }
    let filter_fields = fields
        .iter()
        .filter(|f| f.field_type != FieldType::Text && !t.is_vector_field(&f.name))
        .map(|f| f.name.clone())
        .collect();
    let schema = Schema {
        tables: vec![TableSchema {
            name: t.name.clone(),
            primary_table: true,
            fields,
        }],
        indexes: Indexes {
            search_fields,
            filter_fields,
        },
    };
    let vectors = t.vector_indexes.iter().map(vector_spec).collect();
    (schema, vectors)
}

fn vector_spec(v: &pier_vse::VectorIndex) -> VectorIndexSpec {
    VectorIndexSpec {
        name: v.name.clone(),
        field: v.vector_field.clone(),
        dimension: v.dimension,
        metric: match v.distance_type {
            DistanceType::SquaredEuclidean => VectorMetric::L2,
            DistanceType::InnerProduct => VectorMetric::Ip,
        },
        // int8 needs the cosine metric in pier's graphs, and the double-bit quantizer has no
        // equivalent: both store f16, which keeps recall at half of f32's memory.
        storage: match v.build_params.precision {
            Precision::Float32 => VectorStorage::F32,
            Precision::Float16 | Precision::Int8 | Precision::DoubleBit => VectorStorage::F16,
        },
        m: v.build_params
            .max_neighbor_count
            .map_or(DEFAULT_M, |n| (n as usize / 2).max(2)),
        ef_construction: v
            .build_params
            .ef_construction
            .map_or(DEFAULT_EF_CONSTRUCTION, |n| n as usize),
        ef_search: v.search_params.effective_ef() as usize,
        linear_build_threshold: match v.index_type {
            VectorIndexType::Linear => usize::MAX,
            _ => usize::try_from(v.linear_build_threshold).unwrap_or(usize::MAX),
        },
        namespace_field: v.namespace_field.clone(),
        sparse: match (&v.sparse_index_field, &v.sparse_value_field) {
            (Some(indices), Some(values)) => Some(SparseFields {
                indices: indices.clone(),
                values: values.clone(),
            }),
            _ => None,
        },
    }
}

/// A checked push as the engine's batch body (`[{"cmd","fields","timestamp"}]`, vectors as flat
/// number arrays under their field). Vectors are written straight from their `f32` values, each
/// in its shortest decimal form (a non-finite value as `null`), with no JSON values in between.
pub fn engine_body(ops: &[pier_vse::VectorOperation]) -> Vec<u8> {
    let items: Vec<EngineOp<'_>> = ops.iter().map(EngineOp).collect();
    serde_json::to_vec(&items).expect("JSON values and f32 arrays serialise")
}

/// One operation of [`engine_body`].
struct EngineOp<'a>(&'a pier_vse::VectorOperation);

impl Serialize for EngineOp<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let op = self.0;
        let cmd = match op.cmd {
            pier_vse::Cmd::Add => "add",
            pier_vse::Cmd::Delete => "delete",
            pier_vse::Cmd::UpdateField => "update",
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("cmd", cmd)?;
        m.serialize_entry("fields", &EngineFields(op))?;
        if let Some(ts) = op.timestamp {
            m.serialize_entry("timestamp", &ts)?;
        }
        m.end()
    }
}

/// The `fields` of an [`EngineOp`]: the document's fields, then its vector fields.
struct EngineFields<'a>(&'a pier_vse::VectorOperation);

impl Serialize for EngineFields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let op = self.0;
        let mut m = s.serialize_map(None)?;
        for (name, value) in &op.fields {
            if !op.vectors.iter().any(|v| &v.field == name) {
                m.serialize_entry(name, value)?;
            }
        }
        for v in &op.vectors {
            m.serialize_entry(&v.field, &v.values)?;
        }
        m.end()
    }
}

/// A filter expression in the engine's filter tree. `contain(f, "a|b")` /
/// `notcontain(f, "a|b")` become `in` / `notin` (on a multi-value field, `in` means "holds one
/// of"); other functions are passed on and refused by the executor with their name.
pub fn engine_filter(e: &pier_vse::Expr) -> pier_query::Expr {
    use pier_query::Expr as Q;
    use pier_vse::Expr as V;
    let b = |e: &V| Box::new(engine_filter(e));
    match e {
        V::Field(f) => Q::Field(f.clone()),
        V::Number(pier_vse::filter::Number::Int(i)) => Q::Number(pier_query::Number::Int(*i)),
        V::Number(pier_vse::filter::Number::Float(f)) => Q::Number(pier_query::Number::Float(*f)),
        V::Str(s) => Q::Str(s.clone()),
        V::Neg(x) => Q::Neg(b(x)),
        V::Arith { op, left, right } => Q::Arith {
            op: arith(*op),
            left: b(left),
            right: b(right),
        },
        V::Compare { op, left, right } => Q::Compare {
            op: compare(*op),
            left: b(left),
            right: b(right),
        },
        V::And(parts) => Q::And(parts.iter().map(engine_filter).collect()),
        V::Or(parts) => Q::Or(parts.iter().map(engine_filter).collect()),
        V::Not(x) => Q::Not(b(x)),
        V::In {
            expr,
            values,
            negated,
        } => Q::In {
            expr: b(expr),
            values: values.clone(),
            negated: *negated,
        },
        V::Call { name, args }
            if (name.eq_ignore_ascii_case("contain")
                || name.eq_ignore_ascii_case("notcontain"))
                && args.len() == 2 =>
        {
            match &args[1] {
                V::Str(list) => Q::In {
                    expr: b(&args[0]),
                    values: list.split('|').map(str::to_string).collect(),
                    negated: name.eq_ignore_ascii_case("notcontain"),
                },
                _ => call(name, args),
            }
        }
        V::Call { name, args } => call(name, args),
    }
}

fn call(name: &str, args: &[pier_vse::Expr]) -> pier_query::Expr {
    pier_query::Expr::Call {
        name: name.to_string(),
        args: args.iter().map(engine_filter).collect(),
    }
}

fn arith(op: pier_vse::filter::ArithOp) -> pier_query::ArithOp {
    use pier_query::ArithOp as Q;
    use pier_vse::filter::ArithOp as V;
    match op {
        V::Add => Q::Add,
        V::Sub => Q::Sub,
        V::Mul => Q::Mul,
        V::Div => Q::Div,
        V::BitAnd => Q::BitAnd,
        V::BitXor => Q::BitXor,
        V::BitOr => Q::BitOr,
    }
}

fn compare(op: pier_vse::filter::CmpOp) -> pier_query::CmpOp {
    use pier_query::CmpOp as Q;
    use pier_vse::filter::CmpOp as V;
    match op {
        V::Eq => Q::Eq,
        V::Ne => Q::Ne,
        V::Lt => Q::Lt,
        V::Le => Q::Le,
        V::Gt => Q::Gt,
        V::Ge => Q::Ge,
    }
}

/// A sort key in the engine's form.
pub fn engine_sort(k: &pier_vse::SortKey) -> pier_query::SortKey {
    pier_query::SortKey {
        order: match k.order {
            pier_vse::Order::Asc => pier_query::Order::Asc,
            pier_vse::Order::Desc => pier_query::Order::Desc,
        },
        key: match &k.key {
            pier_vse::SortExpr::Rank => pier_query::SortExpr::Rank,
            pier_vse::SortExpr::Expr(e) => pier_query::SortExpr::Expr(engine_filter(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn engine_body_writes_vectors_in_shortest_form_after_the_fields() {
        let op = pier_vse::VectorOperation {
            cmd: pier_vse::Cmd::UpdateField,
            pk: "7".into(),
            timestamp: Some(5),
            fields: json!({"id": 7, "tag": "a"}).as_object().unwrap().clone(),
            vectors: vec![pier_vse::push::DocVector {
                field: "vector".into(),
                dimension: 3,
                values: vec![0.1, 1.0, -2.5e-8],
            }],
            sparse: Vec::new(),
            dropped: Vec::new(),
        };
        let body: Value = serde_json::from_slice(&engine_body(&[op])).unwrap();
        assert_eq!(
            body,
            json!([{"cmd": "update", "fields": {"id": 7, "tag": "a", "vector": [0.1, 1.0, -2.5e-8]},
                    "timestamp": 5}])
        );
        let fields: Vec<&String> = body[0]["fields"].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["id", "tag", "vector"]);
    }
}
