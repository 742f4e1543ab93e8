//! Table schemas in the shape of the vector SDK's `CreateTableRequest` / `GetTable` result
//! (spec §2.7 and §4): a name, a primary key, typed fields (`fieldSchema`), vector indexes
//! (`vectorIndex[]`) with their proxima parameters, and the data-source settings, which are kept
//! verbatim.
//!
//! ```json
//! {"name":"test","primaryKey":"id","partitionCount":1,
//!  "fieldSchema":{"id":"INT64","title":"TEXT","vector":"MULTI_FLOAT","ns":"STRING"},
//!  "vectorIndex":[{"indexName":"vec_idx","vectorField":"vector","dimension":"3",
//!                  "distanceType":"SquaredEuclidean","vectorIndexType":"HNSW","namespace":"ns",
//!                  "advanceParams":{"buildIndexParams":"{...}","searchIndexParams":"{...}",
//!                                   "linearBuildThreshold":"10000","minScanDocCnt":"20000"}}]}
//! ```
//!
//! Design choices where the spec is silent:
//! * Keys are also accepted in the Java SDK's snake_case (`primary_key`, `field_schema`...), and
//!   `fields` is accepted for `fieldSchema`; [`VectorTableSchema::to_json`] writes camelCase.
//! * The advanced parameters are also accepted directly on the `vectorIndex` entry.
//! * `embeddingDelimiter` (havenask's `embedding_delimiter`) is an optional pier extension on a
//!   `vectorIndex` entry: the separator of string-encoded vectors, default `,`.
//! * Text (inverted) indexes are not declared in this schema shape: every TEXT field is an
//!   analysed text index of the same name (see [`VectorTableSchema::text_index_fields`]).

use crate::params::{BuildParams, SearchParams};
use serde_json::{Map, Value, json};

/// Longest table, field and index name (design choice).
pub const MAX_NAME_LEN: usize = 64;
/// Most fields in a table (design choice).
pub const MAX_FIELDS: usize = 1024;
/// Most vector indexes in a table (design choice).
pub const MAX_VECTOR_INDEXES: usize = 16;
/// Largest vector dimension (design choice, the same as pier's vector index).
pub const MAX_DIMENSION: usize = 65_536;
/// Most partitions (`partitionCount`) (design choice: the hash range 0–65535 split evenly).
pub const MAX_PARTITIONS: u32 = 256;
/// Default `linearBuildThreshold` (havenask docs).
pub const DEFAULT_LINEAR_BUILD_THRESHOLD: u64 = 10_000;
/// Default `minScanDocCnt` (havenask docs).
pub const DEFAULT_MIN_SCAN_DOC_CNT: u64 = 10_000;
/// Default separator of a string-encoded vector (havenask `embedding_delimiter`).
pub const DEFAULT_EMBEDDING_DELIMITER: &str = ",";

/// Why a schema was refused, in words that say what to fix. The management OpenAPI sends it as
/// `{"requestId":..,"code":"InvalidParameter","message":..}` (see [`crate::response::openapi_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid table schema: {0}")]
pub struct SchemaError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError(msg.into()))
}

/// The field types of `fieldSchema` (spec §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum FieldType {
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float,
    Double,
    String,
    Text,
    MultiInt8,
    MultiInt16,
    MultiInt32,
    MultiInt64,
    MultiUint8,
    MultiUint16,
    MultiUint32,
    MultiUint64,
    MultiFloat,
    MultiDouble,
    MultiString,
}

impl FieldType {
    /// Every type, in the order error messages list them.
    pub const ALL: [FieldType; 23] = [
        FieldType::Int8,
        FieldType::Int16,
        FieldType::Int32,
        FieldType::Int64,
        FieldType::Uint8,
        FieldType::Uint16,
        FieldType::Uint32,
        FieldType::Uint64,
        FieldType::Float,
        FieldType::Double,
        FieldType::String,
        FieldType::Text,
        FieldType::MultiInt8,
        FieldType::MultiInt16,
        FieldType::MultiInt32,
        FieldType::MultiInt64,
        FieldType::MultiUint8,
        FieldType::MultiUint16,
        FieldType::MultiUint32,
        FieldType::MultiUint64,
        FieldType::MultiFloat,
        FieldType::MultiDouble,
        FieldType::MultiString,
    ];

    /// The wire name (`INT64`, `MULTI_FLOAT`...).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Int8 => "INT8",
            FieldType::Int16 => "INT16",
            FieldType::Int32 => "INT32",
            FieldType::Int64 => "INT64",
            FieldType::Uint8 => "UINT8",
            FieldType::Uint16 => "UINT16",
            FieldType::Uint32 => "UINT32",
            FieldType::Uint64 => "UINT64",
            FieldType::Float => "FLOAT",
            FieldType::Double => "DOUBLE",
            FieldType::String => "STRING",
            FieldType::Text => "TEXT",
            FieldType::MultiInt8 => "MULTI_INT8",
            FieldType::MultiInt16 => "MULTI_INT16",
            FieldType::MultiInt32 => "MULTI_INT32",
            FieldType::MultiInt64 => "MULTI_INT64",
            FieldType::MultiUint8 => "MULTI_UINT8",
            FieldType::MultiUint16 => "MULTI_UINT16",
            FieldType::MultiUint32 => "MULTI_UINT32",
            FieldType::MultiUint64 => "MULTI_UINT64",
            FieldType::MultiFloat => "MULTI_FLOAT",
            FieldType::MultiDouble => "MULTI_DOUBLE",
            FieldType::MultiString => "MULTI_STRING",
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<FieldType> {
        FieldType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The element type of a `MULTI_*` type, or None for a scalar type.
    pub fn element(self) -> Option<FieldType> {
        Some(match self {
            FieldType::MultiInt8 => FieldType::Int8,
            FieldType::MultiInt16 => FieldType::Int16,
            FieldType::MultiInt32 => FieldType::Int32,
            FieldType::MultiInt64 => FieldType::Int64,
            FieldType::MultiUint8 => FieldType::Uint8,
            FieldType::MultiUint16 => FieldType::Uint16,
            FieldType::MultiUint32 => FieldType::Uint32,
            FieldType::MultiUint64 => FieldType::Uint64,
            FieldType::MultiFloat => FieldType::Float,
            FieldType::MultiDouble => FieldType::Double,
            FieldType::MultiString => FieldType::String,
            _ => return None,
        })
    }

    /// Whether this is a `MULTI_*` (multi-value) type.
    pub fn is_multi(self) -> bool {
        self.element().is_some()
    }

    /// The inclusive value range of an integer type (or of a multi type's elements).
    pub fn int_range(self) -> Option<(i128, i128)> {
        let t = self.element().unwrap_or(self);
        Some(match t {
            FieldType::Int8 => (i8::MIN as i128, i8::MAX as i128),
            FieldType::Int16 => (i16::MIN as i128, i16::MAX as i128),
            FieldType::Int32 => (i32::MIN as i128, i32::MAX as i128),
            FieldType::Int64 => (i64::MIN as i128, i64::MAX as i128),
            FieldType::Uint8 => (0, u8::MAX as i128),
            FieldType::Uint16 => (0, u16::MAX as i128),
            FieldType::Uint32 => (0, u32::MAX as i128),
            FieldType::Uint64 => (0, u64::MAX as i128),
            _ => return None,
        })
    }

    /// Whether this is an integer type (scalar or multi).
    pub fn is_integer(self) -> bool {
        self.int_range().is_some()
    }

    /// Whether this is FLOAT/DOUBLE (scalar or multi).
    pub fn is_floating(self) -> bool {
        matches!(
            self.element().unwrap_or(self),
            FieldType::Float | FieldType::Double
        )
    }

    /// Whether values are strings (STRING, TEXT, MULTI_STRING).
    pub fn is_string(self) -> bool {
        matches!(
            self.element().unwrap_or(self),
            FieldType::String | FieldType::Text
        )
    }

    fn list() -> String {
        FieldType::ALL
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How vector distance is measured (spec §4). Scores are reported raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DistanceType {
    /// Squared Euclidean distance (no square root); lower is better.
    SquaredEuclidean,
    /// Inner product; higher is better. Cosine is InnerProduct on normalised vectors.
    InnerProduct,
}

impl DistanceType {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            DistanceType::SquaredEuclidean => "SquaredEuclidean",
            DistanceType::InnerProduct => "InnerProduct",
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<DistanceType> {
        [DistanceType::SquaredEuclidean, DistanceType::InnerProduct]
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether a higher score is a better match.
    pub fn higher_is_better(self) -> bool {
        self == DistanceType::InnerProduct
    }

    /// Whether `score` passes a query's `scoreThreshold` (spec §2.1): SquaredEuclidean keeps
    /// `score < threshold`, InnerProduct keeps `score > threshold`.
    pub fn passes_threshold(self, score: f64, threshold: f64) -> bool {
        if self.higher_is_better() {
            score > threshold
        } else {
            score < threshold
        }
    }

    /// The result order a query gets when it sends no `order`: best first (design choice;
    /// ASC for SquaredEuclidean, DESC for InnerProduct).
    pub fn best_first(self) -> crate::query::Order {
        if self.higher_is_better() {
            crate::query::Order::Desc
        } else {
            crate::query::Order::Asc
        }
    }
}

/// The ANN algorithm of a vector index (spec §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorIndexType {
    /// Graph index (`HnswBuilder` / `HnswSearcher`).
    Hnsw,
    /// Quantized clustering (`QcBuilder` / `QcSearcher`).
    Qc,
    /// Brute force (`LinearBuilder` / `LinearSearcher`).
    Linear,
}

impl VectorIndexType {
    /// The wire name (`HNSW`, `QC`, `Linear`).
    pub fn name(self) -> &'static str {
        match self {
            VectorIndexType::Hnsw => "HNSW",
            VectorIndexType::Qc => "QC",
            VectorIndexType::Linear => "Linear",
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<VectorIndexType> {
        [
            VectorIndexType::Hnsw,
            VectorIndexType::Qc,
            VectorIndexType::Linear,
        ]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The havenask builder and searcher names.
    pub fn builder_and_searcher(self) -> (&'static str, &'static str) {
        match self {
            VectorIndexType::Hnsw => ("HnswBuilder", "HnswSearcher"),
            VectorIndexType::Qc => ("QcBuilder", "QcSearcher"),
            VectorIndexType::Linear => ("LinearBuilder", "LinearSearcher"),
        }
    }
}

/// A field of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Name as declared.
    pub name: String,
    /// Type.
    pub field_type: FieldType,
}

/// A vector index (`vectorIndex[]` entry).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorIndex {
    /// `indexName`.
    pub name: String,
    /// `vectorField`: a MULTI_FLOAT, MULTI_DOUBLE or STRING field.
    pub vector_field: String,
    /// `dimension` (sent as a string by the SDK).
    pub dimension: usize,
    /// `distanceType` (default SquaredEuclidean).
    pub distance_type: DistanceType,
    /// `vectorIndexType` (default HNSW).
    pub index_type: VectorIndexType,
    /// `namespace`: the field whose value partitions the index; queries must then send it.
    pub namespace_field: Option<String>,
    /// `sparseIndexField`: MULTI_INT*/MULTI_UINT* field of sparse indices.
    pub sparse_index_field: Option<String>,
    /// `sparseValueField`: MULTI_FLOAT/MULTI_DOUBLE field of sparse values.
    pub sparse_value_field: Option<String>,
    /// Separator of string-encoded vectors (pier extension `embeddingDelimiter`, default `,`).
    pub embedding_delimiter: String,
    /// `advanceParams.buildIndexParams`.
    pub build_params: BuildParams,
    /// `advanceParams.searchIndexParams`.
    pub search_params: SearchParams,
    /// `advanceParams.linearBuildThreshold`: below this document count, search is exact.
    pub linear_build_threshold: u64,
    /// `advanceParams.minScanDocCnt`: minimum candidates scanned.
    pub min_scan_doc_cnt: u64,
}

impl VectorIndex {
    /// Whether the index has sparse fields (dense + sparse queries).
    pub fn has_sparse(&self) -> bool {
        self.sparse_index_field.is_some()
    }
}

/// A validated Vector Search Edition table schema.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorTableSchema {
    /// Table name (`name`), as used in `tableName` and the push path.
    pub name: String,
    /// The primary key field's name (`primaryKey`).
    pub primary_key: String,
    /// `partitionCount` (default 1).
    pub partition_count: u32,
    /// Fields in declaration order (`fieldSchema`).
    pub fields: Vec<Field>,
    /// Vector indexes in declaration order (`vectorIndex`).
    pub vector_indexes: Vec<VectorIndex>,
    /// `dataSource`, kept verbatim.
    pub data_source: Option<Value>,
    /// `dataProcessConfig`, kept verbatim.
    pub data_process_config: Vec<Value>,
    /// `dataProcessorCount`, kept verbatim.
    pub data_processor_count: Option<Value>,
}

/// Checks a table, field or index name: 1 to [`MAX_NAME_LEN`] ASCII letters, digits or `_`,
/// not starting with a digit (design choice). `what` names it in the message.
pub fn validate_name(what: &str, name: &str) -> Result<(), SchemaError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return err(format!(
            "{what} name '{name}' must be 1 to {MAX_NAME_LEN} characters long"
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || name.as_bytes()[0].is_ascii_digit()
    {
        return err(format!(
            "{what} name '{name}' may contain only letters, digits and '_', and may not start with a digit"
        ));
    }
    Ok(())
}

fn get<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| v.get(*k)).filter(|v| !v.is_null())
}

fn get_str<'a>(v: &'a Value, keys: &[&str], what: &str) -> Result<Option<&'a str>, SchemaError> {
    match get(v, keys) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(other) => err(format!(
            "{what} must be a string, got {}",
            crate::error::shown(other)
        )),
    }
}

fn get_uint(v: &Value, keys: &[&str], what: &str, default: u64) -> Result<u64, SchemaError> {
    match get(v, keys) {
        None => Ok(default),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(default),
        Some(x) => crate::params::number_u64(x).ok_or_else(|| {
            SchemaError(format!(
                "{what} must be a non-negative integer (a number or a string such as \"10000\"), got {}",
                crate::error::shown(x)
            ))
        }),
    }
}

impl VectorTableSchema {
    /// Parses and validates a CreateTableRequest-shaped JSON value.
    pub fn from_json(v: &Value) -> Result<VectorTableSchema, SchemaError> {
        if !v.is_object() {
            return err(
                "the table schema must be a JSON object with name, primaryKey, fieldSchema and vectorIndex",
            );
        }
        let name = get_str(v, &["name", "tableName", "table_name"], "'name'")?
            .ok_or_else(|| SchemaError("'name' (the table name) is required".into()))?
            .to_string();
        validate_name("table", &name)?;
        let fields_v = match get(v, &["fieldSchema", "field_schema", "fields"]) {
            Some(Value::Object(m)) if !m.is_empty() => m,
            _ => {
                return err(
                    "'fieldSchema' must be a non-empty object of field name to type, e.g. {\"id\":\"INT64\",\"vector\":\"MULTI_FLOAT\"}",
                );
            }
        };
        if fields_v.len() > MAX_FIELDS {
            return err(format!(
                "a table has at most {MAX_FIELDS} fields, found {}",
                fields_v.len()
            ));
        }
        let mut fields: Vec<Field> = Vec::with_capacity(fields_v.len());
        for (fname, ty) in fields_v {
            validate_name("field", fname)?;
            let ty_s = ty.as_str().unwrap_or("");
            let field_type = FieldType::parse(ty_s).ok_or_else(|| {
                SchemaError(format!(
                    "field '{fname}': unknown type {} (use one of {})",
                    crate::error::shown(ty),
                    FieldType::list()
                ))
            })?;
            if fields.iter().any(|f| f.name.eq_ignore_ascii_case(fname)) {
                return err(format!(
                    "field '{fname}' is declared twice (field names are case-insensitive)"
                ));
            }
            fields.push(Field {
                name: fname.clone(),
                field_type,
            });
        }
        let find = |n: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(n));
        let pk_name =
            get_str(v, &["primaryKey", "primary_key"], "'primaryKey'")?.ok_or_else(|| {
                SchemaError("'primaryKey' (the name of the primary key field) is required".into())
            })?;
        let pk = find(pk_name).ok_or_else(|| {
            SchemaError(format!(
                "primary key '{pk_name}' is not declared in 'fieldSchema'"
            ))
        })?;
        if pk.field_type.is_multi()
            || !(pk.field_type.is_integer() || pk.field_type == FieldType::String)
        {
            return err(format!(
                "primary key '{}' is {}; it must be an integer type (INT8..UINT64) or STRING",
                pk.name,
                pk.field_type.name()
            ));
        }
        let primary_key = pk.name.clone();
        let partition_count = get_uint(
            v,
            &["partitionCount", "partition_count"],
            "'partitionCount'",
            1,
        )?;
        if partition_count == 0 || partition_count > MAX_PARTITIONS as u64 {
            return err(format!(
                "'partitionCount' must be from 1 to {MAX_PARTITIONS}, got {partition_count}"
            ));
        }
        let indexes_v: &[Value] = match get(v, &["vectorIndex", "vector_index"]) {
            None => &[],
            Some(Value::Array(a)) => a,
            Some(other) => {
                return err(format!(
                    "'vectorIndex' must be an array of vector index objects, got {}",
                    crate::error::shown(other)
                ));
            }
        };
        if indexes_v.len() > MAX_VECTOR_INDEXES {
            return err(format!(
                "a table has at most {MAX_VECTOR_INDEXES} vector indexes, found {}",
                indexes_v.len()
            ));
        }
        let mut vector_indexes: Vec<VectorIndex> = Vec::new();
        for (i, iv) in indexes_v.iter().enumerate() {
            let index = parse_index(i, iv, &fields, &primary_key)?;
            if vector_indexes
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&index.name))
            {
                return err(format!("vector index '{}' is declared twice", index.name));
            }
            if let Some(other) = vector_indexes
                .iter()
                .find(|x| x.vector_field == index.vector_field)
                && (other.dimension != index.dimension
                    || other.embedding_delimiter != index.embedding_delimiter)
            {
                return err(format!(
                    "vector indexes '{}' and '{}' share vector field '{}' but differ in dimension or embeddingDelimiter; one field holds one kind of vector",
                    other.name, index.name, index.vector_field
                ));
            }
            vector_indexes.push(index);
        }
        let data_process_config = match get(v, &["dataProcessConfig", "data_process_config"]) {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                return err(format!(
                    "'dataProcessConfig' must be an array, got {}",
                    crate::error::shown(other)
                ));
            }
        };
        let data_source = match get(v, &["dataSource", "data_source"]) {
            None => None,
            Some(Value::Object(m)) => Some(Value::Object(m.clone())),
            Some(other) => {
                return err(format!(
                    "'dataSource' must be an object such as {{\"type\":\"swift\"}}, got {}",
                    crate::error::shown(other)
                ));
            }
        };
        Ok(VectorTableSchema {
            name,
            primary_key,
            partition_count: partition_count as u32,
            fields,
            vector_indexes,
            data_source,
            data_process_config,
            data_processor_count: get(v, &["dataProcessorCount", "data_processor_count"]).cloned(),
        })
    }

    /// Parses and validates schema JSON text.
    pub fn from_json_str(s: &str) -> Result<VectorTableSchema, SchemaError> {
        let v: Value = serde_json::from_str(s)
            .map_err(|e| SchemaError(format!("the table schema is not valid JSON: {e}")))?;
        VectorTableSchema::from_json(&v)
    }

    /// Serialises back to the CreateTableRequest / GetTable JSON shape (for describe). The
    /// advanced parameters are written with their effective values.
    pub fn to_json(&self) -> Value {
        let fields: Map<String, Value> = self
            .fields
            .iter()
            .map(|f| (f.name.clone(), Value::String(f.field_type.name().into())))
            .collect();
        let indexes: Vec<Value> = self.vector_indexes.iter().map(index_to_json).collect();
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("partitionCount".into(), json!(self.partition_count));
        out.insert("primaryKey".into(), json!(self.primary_key));
        out.insert("fieldSchema".into(), Value::Object(fields));
        out.insert("vectorIndex".into(), Value::Array(indexes));
        out.insert(
            "dataProcessConfig".into(),
            Value::Array(self.data_process_config.clone()),
        );
        if let Some(ds) = &self.data_source {
            out.insert("dataSource".into(), ds.clone());
        }
        if let Some(n) = &self.data_processor_count {
            out.insert("dataProcessorCount".into(), n.clone());
        }
        Value::Object(out)
    }

    /// Looks a field up by name, ignoring ASCII case (field names are case-insensitive).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The primary key field (always present in a schema built by [`VectorTableSchema::from_json`]).
    pub fn pk_field(&self) -> Option<&Field> {
        self.field(&self.primary_key)
    }

    /// Looks a vector index up by name, ignoring ASCII case.
    pub fn vector_index(&self, name: &str) -> Option<&VectorIndex> {
        self.vector_indexes
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
    }

    /// The index a query uses when it names none: the first declared (design choice).
    pub fn default_vector_index(&self) -> Option<&VectorIndex> {
        self.vector_indexes.first()
    }

    /// Whether `field` is the vector field of some index.
    pub fn is_vector_field(&self, field: &str) -> bool {
        self.vector_indexes
            .iter()
            .any(|i| i.vector_field.eq_ignore_ascii_case(field))
    }

    /// The indexes whose vector field is `field`.
    pub fn indexes_on_field<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a VectorIndex> {
        self.vector_indexes
            .iter()
            .filter(move |i| i.vector_field.eq_ignore_ascii_case(field))
    }

    /// The TEXT fields: each is an analysed text index of the same name, queried with
    /// `textQueryString` / hybrid `text.queryString` as `field:'words'` (design choice).
    pub fn text_index_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| f.field_type == FieldType::Text)
    }

    /// A primary key string as the JSON value results carry in `id`: a number for an integer
    /// key, a string otherwise (spec §2.2). A string that does not parse stays a string.
    pub fn typed_pk(&self, pk: &str) -> Value {
        if self.pk_field().is_some_and(|f| f.field_type.is_integer()) {
            if let Ok(n) = pk.parse::<i64>() {
                return Value::from(n);
            }
            if let Ok(n) = pk.parse::<u64>() {
                return Value::from(n);
            }
        }
        Value::String(pk.to_string())
    }
}

fn index_to_json(i: &VectorIndex) -> Value {
    let mut adv = Map::new();
    if !i.build_params.raw.is_empty() {
        adv.insert("buildIndexParams".into(), i.build_params.raw.to_json());
    }
    adv.insert(
        "linearBuildThreshold".into(),
        Value::String(i.linear_build_threshold.to_string()),
    );
    adv.insert(
        "minScanDocCnt".into(),
        Value::String(i.min_scan_doc_cnt.to_string()),
    );
    if !i.search_params.raw.is_empty() {
        adv.insert("searchIndexParams".into(), i.search_params.raw.to_json());
    }
    let mut out = Map::new();
    out.insert("advanceParams".into(), Value::Object(adv));
    out.insert("dimension".into(), Value::String(i.dimension.to_string()));
    out.insert("distanceType".into(), json!(i.distance_type.name()));
    out.insert("indexName".into(), json!(i.name));
    if let Some(ns) = &i.namespace_field {
        out.insert("namespace".into(), json!(ns));
    }
    if let Some(f) = &i.sparse_index_field {
        out.insert("sparseIndexField".into(), json!(f));
    }
    if let Some(f) = &i.sparse_value_field {
        out.insert("sparseValueField".into(), json!(f));
    }
    out.insert("vectorField".into(), json!(i.vector_field));
    out.insert("vectorIndexType".into(), json!(i.index_type.name()));
    if i.embedding_delimiter != DEFAULT_EMBEDDING_DELIMITER {
        out.insert("embeddingDelimiter".into(), json!(i.embedding_delimiter));
    }
    Value::Object(out)
}

fn parse_index(
    i: usize,
    v: &Value,
    fields: &[Field],
    pk: &str,
) -> Result<VectorIndex, SchemaError> {
    let at = format!("vectorIndex[{i}]");
    if !v.is_object() {
        return err(format!(
            "{at} must be an object with indexName, vectorField, dimension, distanceType and vectorIndexType"
        ));
    }
    let find = |n: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(n));
    let name = get_str(
        v,
        &["indexName", "index_name", "name"],
        &format!("{at}.indexName"),
    )?
    .ok_or_else(|| SchemaError(format!("{at}.indexName is required")))?
    .to_string();
    validate_name("vector index", &name)?;
    let at = format!("vector index '{name}'");
    let vf_name = get_str(
        v,
        &["vectorField", "vector_field"],
        &format!("{at}: vectorField"),
    )?
    .ok_or_else(|| SchemaError(format!("{at}: 'vectorField' is required")))?;
    let vf = find(vf_name).ok_or_else(|| {
        SchemaError(format!(
            "{at}: vector field '{vf_name}' is not declared in 'fieldSchema'"
        ))
    })?;
    if !matches!(
        vf.field_type,
        FieldType::MultiFloat | FieldType::MultiDouble | FieldType::String
    ) {
        return err(format!(
            "{at}: vector field '{}' is {}; declare it MULTI_FLOAT (or MULTI_DOUBLE, or STRING for delimiter-joined values)",
            vf.name,
            vf.field_type.name()
        ));
    }
    if vf.name.eq_ignore_ascii_case(pk) {
        return err(format!("{at}: the primary key cannot be the vector field"));
    }
    let dimension = match get(v, &["dimension"]) {
        None => return err(format!("{at}: 'dimension' is required, e.g. \"128\"")),
        Some(d) => match crate::params::number_u64(d) {
            Some(n) if n >= 1 && n <= MAX_DIMENSION as u64 => n as usize,
            _ => {
                return err(format!(
                    "{at}: 'dimension' must be an integer from 1 to {MAX_DIMENSION}, got {}",
                    crate::error::shown(d)
                ));
            }
        },
    };
    let distance_type = match get_str(v, &["distanceType", "distance_type"], &format!("{at}: distanceType"))? {
        None => DistanceType::SquaredEuclidean,
        Some(s) => DistanceType::parse(s).ok_or_else(|| {
            SchemaError(format!(
                "{at}: unknown distanceType '{s}' (use SquaredEuclidean or InnerProduct; for cosine use InnerProduct on normalised vectors)"
            ))
        })?,
    };
    let index_type = match get_str(
        v,
        &["vectorIndexType", "vector_index_type"],
        &format!("{at}: vectorIndexType"),
    )? {
        None => VectorIndexType::Hnsw,
        Some(s) => VectorIndexType::parse(s).ok_or_else(|| {
            SchemaError(format!(
                "{at}: unknown vectorIndexType '{s}' (use HNSW, QC or Linear)"
            ))
        })?,
    };
    let namespace_field = match get_str(v, &["namespace"], &format!("{at}: namespace"))? {
        None => None,
        Some(n) => {
            let f = find(n).ok_or_else(|| {
                SchemaError(format!(
                    "{at}: namespace field '{n}' is not declared in 'fieldSchema'"
                ))
            })?;
            if f.field_type.is_multi()
                || !(f.field_type.is_integer() || f.field_type == FieldType::String)
                || f.name.eq_ignore_ascii_case(&vf.name)
            {
                return err(format!(
                    "{at}: namespace field '{}' is {}; it must be a single-value integer or STRING field other than the vector field",
                    f.name,
                    f.field_type.name()
                ));
            }
            Some(f.name.clone())
        }
    };
    let sparse_i = get_str(
        v,
        &["sparseIndexField", "sparse_index_field"],
        &format!("{at}: sparseIndexField"),
    )?;
    let sparse_v = get_str(
        v,
        &["sparseValueField", "sparse_value_field"],
        &format!("{at}: sparseValueField"),
    )?;
    let (sparse_index_field, sparse_value_field) = match (sparse_i, sparse_v) {
        (None, None) => (None, None),
        (Some(si), Some(sv)) => {
            let fi = find(si).ok_or_else(|| {
                SchemaError(format!(
                    "{at}: sparse index field '{si}' is not declared in 'fieldSchema'"
                ))
            })?;
            let fv = find(sv).ok_or_else(|| {
                SchemaError(format!(
                    "{at}: sparse value field '{sv}' is not declared in 'fieldSchema'"
                ))
            })?;
            if !(fi.field_type.is_multi() && fi.field_type.is_integer()) {
                return err(format!(
                    "{at}: sparse index field '{}' is {}; declare it MULTI_INT32, MULTI_INT64 or another MULTI integer type",
                    fi.name,
                    fi.field_type.name()
                ));
            }
            if !matches!(
                fv.field_type,
                FieldType::MultiFloat | FieldType::MultiDouble
            ) {
                return err(format!(
                    "{at}: sparse value field '{}' is {}; declare it MULTI_FLOAT",
                    fv.name,
                    fv.field_type.name()
                ));
            }
            if fi.name == fv.name {
                return err(format!(
                    "{at}: sparseIndexField and sparseValueField must be two different fields"
                ));
            }
            (Some(fi.name.clone()), Some(fv.name.clone()))
        }
        _ => {
            return err(format!(
                "{at}: give both sparseIndexField and sparseValueField, or neither"
            ));
        }
    };
    let embedding_delimiter = match get(v, &["embeddingDelimiter", "embedding_delimiter"]) {
        None => DEFAULT_EMBEDDING_DELIMITER.to_string(),
        Some(Value::String(s))
            if !s.is_empty()
                && s.chars().count() <= 4
                && !s
                    .chars()
                    .any(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')) =>
        {
            s.clone()
        }
        Some(other) => {
            return err(format!(
                "{at}: 'embeddingDelimiter' must be a short separator that cannot appear inside a number, such as \",\" or \" \"; got {}",
                crate::error::shown(other)
            ));
        }
    };
    let adv = get(v, &["advanceParams", "advance_params"]).unwrap_or(v);
    if !adv.is_object() {
        return err(format!("{at}: 'advanceParams' must be an object"));
    }
    let pick = |keys: &[&str]| get(adv, keys).or_else(|| get(v, keys));
    let build_params = BuildParams::parse(
        pick(&["buildIndexParams", "build_index_params"]),
        &format!("{at}: buildIndexParams"),
    )
    .map_err(SchemaError)?;
    let search_params = SearchParams::parse(
        pick(&["searchIndexParams", "search_index_params"]),
        &format!("{at}: searchIndexParams"),
    )
    .map_err(SchemaError)?;
    let linear_build_threshold = match pick(&["linearBuildThreshold", "linear_build_threshold"]) {
        None => DEFAULT_LINEAR_BUILD_THRESHOLD,
        Some(x) => get_uint(
            &json!({"v": x}),
            &["v"],
            &format!("{at}: linearBuildThreshold"),
            DEFAULT_LINEAR_BUILD_THRESHOLD,
        )?,
    };
    let min_scan_doc_cnt = match pick(&["minScanDocCnt", "min_scan_doc_cnt"]) {
        None => DEFAULT_MIN_SCAN_DOC_CNT,
        Some(x) => get_uint(
            &json!({"v": x}),
            &["v"],
            &format!("{at}: minScanDocCnt"),
            DEFAULT_MIN_SCAN_DOC_CNT,
        )?,
    };
    Ok(VectorIndex {
        name,
        vector_field: vf.name.clone(),
        dimension,
        distance_type,
        index_type,
        namespace_field,
        sparse_index_field,
        sparse_value_field,
        embedding_delimiter,
        build_params,
        search_params,
        linear_build_threshold,
        min_scan_doc_cnt,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The CreateTableRequest body the vector SDK 1.1.19 sends (tests/fixtures/vector_create_table.http).
    pub(crate) const SDK_CREATE_TABLE: &str = r#"{"name":"test","partitionCount":1,"primaryKey":"id","fieldSchema":{"id":"INT64","cate_id":"INT32","title":"TEXT","tags":"MULTI_STRING","vector":"MULTI_FLOAT","ns":"STRING","sparse_idx":"MULTI_INT64","sparse_val":"MULTI_FLOAT"},"vectorIndex":[{"advanceParams":{"buildIndexParams":"{\"proxima.hnsw.builder.max_neighbor_count\":100,\"proxima.hnsw.builder.efconstruction\":500}","linearBuildThreshold":"10000","minScanDocCnt":"20000","searchIndexParams":"{\"proxima.hnsw.searcher.ef\":500}"},"dimension":"3","distanceType":"SquaredEuclidean","indexName":"vec_idx","namespace":"ns","sparseIndexField":"sparse_idx","sparseValueField":"sparse_val","vectorField":"vector","vectorIndexType":"HNSW"}],"dataProcessConfig":[],"dataSource":{"autoBuildIndex":true,"dataTimeSec":1700000000,"type":"swift"}}"#;

    fn base() -> Value {
        serde_json::from_str(SDK_CREATE_TABLE).unwrap()
    }

    #[test]
    fn parses_the_sdk_request_and_writes_it_back() {
        let s = VectorTableSchema::from_json(&base()).unwrap();
        assert_eq!(s.name, "test");
        assert_eq!(s.primary_key, "id");
        assert_eq!(s.fields.len(), 8);
        assert_eq!(s.field("TAGS").unwrap().field_type, FieldType::MultiString);
        let i = &s.vector_indexes[0];
        assert_eq!(i.dimension, 3);
        assert_eq!(i.distance_type, DistanceType::SquaredEuclidean);
        assert_eq!(i.index_type, VectorIndexType::Hnsw);
        assert_eq!(i.namespace_field.as_deref(), Some("ns"));
        assert_eq!(i.sparse_value_field.as_deref(), Some("sparse_val"));
        assert_eq!(i.build_params.max_neighbor_count, Some(100));
        assert_eq!(i.search_params.ef, Some(500));
        assert_eq!(i.min_scan_doc_cnt, 20_000);
        assert_eq!(s.to_json(), base());
        assert_eq!(VectorTableSchema::from_json(&s.to_json()).unwrap(), s);
        assert_eq!(s.typed_pk("42"), json!(42));
        assert_eq!(s.text_index_fields().count(), 1);
        assert!(s.is_vector_field("VECTOR"));
        assert_eq!(s.indexes_on_field("vector").count(), 1);
    }

    #[test]
    fn accepts_minimal_and_alternative_spellings() {
        let s = VectorTableSchema::from_json(&json!({
            "name": "t", "primary_key": "pk", "fields": {"pk": "string", "emb": "STRING"},
            "vector_index": [{"index_name": "v", "vector_field": "emb", "dimension": 4,
                              "distance_type": "innerproduct", "vector_index_type": "qc",
                              "build_index_params": {"proxima.qc.builder.quantizer_class": "HalfFloatConverter"},
                              "embeddingDelimiter": " "}]}))
        .unwrap();
        let i = &s.vector_indexes[0];
        assert_eq!(i.distance_type, DistanceType::InnerProduct);
        assert_eq!(i.index_type, VectorIndexType::Qc);
        assert_eq!(i.embedding_delimiter, " ");
        assert_eq!(i.build_params.precision, crate::params::Precision::Float16);
        assert_eq!(i.linear_build_threshold, DEFAULT_LINEAR_BUILD_THRESHOLD);
        assert_eq!(s.typed_pk("7"), json!("7"));
        let back = s.to_json();
        assert_eq!(back["vectorIndex"][0]["embeddingDelimiter"], " ");
        assert_eq!(back["vectorIndex"][0]["dimension"], "4");
        assert_eq!(VectorTableSchema::from_json(&back).unwrap(), s);
        assert!(VectorTableSchema::from_json_str("{").is_err());
    }

    #[test]
    fn refuses_what_cannot_work() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|v| v["primaryKey"] = json!("nope")),
                "not declared",
            ),
            (
                Box::new(|v| v["primaryKey"] = json!("tags")),
                "integer type",
            ),
            (Box::new(|v| v["name"] = json!("bad name")), "only letters"),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("name");
                }),
                "'name'",
            ),
            (
                Box::new(|v| v["fieldSchema"]["x"] = json!("BIGINT")),
                "unknown type",
            ),
            (
                Box::new(|v| v["fieldSchema"]["ID"] = json!("INT64")),
                "declared twice",
            ),
            (Box::new(|v| v["fieldSchema"] = json!({})), "non-empty"),
            (
                Box::new(|v| v["vectorIndex"][0]["vectorField"] = json!("missing")),
                "not declared",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["vectorField"] = json!("cate_id")),
                "MULTI_FLOAT",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["dimension"] = json!("0")),
                "from 1 to",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["dimension"] = json!("70000")),
                "from 1 to",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["dimension"] = json!("abc")),
                "from 1 to",
            ),
            (
                Box::new(|v| {
                    v["vectorIndex"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("dimension");
                }),
                "required",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["distanceType"] = json!("Cosine")),
                "InnerProduct",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["vectorIndexType"] = json!("IVF")),
                "HNSW, QC or Linear",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["namespace"] = json!("tags")),
                "single-value",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["namespace"] = json!("nope")),
                "not declared",
            ),
            (
                Box::new(|v| {
                    v["vectorIndex"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("sparseValueField");
                }),
                "or neither",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["sparseIndexField"] = json!("tags")),
                "MULTI_INT32",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["sparseValueField"] = json!("tags")),
                "MULTI_FLOAT",
            ),
            (
                Box::new(|v| {
                    v["vectorIndex"][0]["advanceParams"]["buildIndexParams"] = json!("{oops")
                }),
                "JSON object",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["advanceParams"]["minScanDocCnt"] = json!("-1")),
                "non-negative",
            ),
            (
                Box::new(|v| v["vectorIndex"][0]["embeddingDelimiter"] = json!(".")),
                "separator",
            ),
            (
                Box::new(|v| {
                    let i = v["vectorIndex"][0].clone();
                    v["vectorIndex"].as_array_mut().unwrap().push(i);
                }),
                "declared twice",
            ),
            (
                Box::new(|v| {
                    let mut i = v["vectorIndex"][0].clone();
                    i["indexName"] = json!("v2");
                    i["dimension"] = json!("4");
                    v["vectorIndex"].as_array_mut().unwrap().push(i);
                }),
                "share vector field",
            ),
            (Box::new(|v| v["vectorIndex"] = json!({})), "array"),
            (
                Box::new(|v| v["partitionCount"] = json!(0)),
                "partitionCount",
            ),
            (
                Box::new(|v| v["dataProcessConfig"] = json!(1)),
                "dataProcessConfig",
            ),
            (Box::new(|v| v["dataSource"] = json!("swift")), "dataSource"),
        ];
        for (i, (mutate, needle)) in cases.iter().enumerate() {
            let mut v = base();
            mutate(&mut v);
            let e = VectorTableSchema::from_json(&v).unwrap_err();
            assert!(e.0.contains(needle), "case {i}: {e}");
        }
        assert!(VectorTableSchema::from_json(&json!([])).is_err());
    }

    #[test]
    fn field_type_helpers() {
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(&t.name().to_lowercase()), Some(t));
        }
        assert_eq!(FieldType::MultiUint8.int_range(), Some((0, 255)));
        assert!(FieldType::MultiDouble.is_floating());
        assert!(FieldType::Text.is_string() && !FieldType::Text.is_multi());
        assert!(DistanceType::InnerProduct.passes_threshold(0.6, 0.5));
        assert!(DistanceType::SquaredEuclidean.passes_threshold(0.4, 0.5));
        assert_eq!(VectorIndexType::Qc.builder_and_searcher().1, "QcSearcher");
    }
}
