//! Collections (wire spec §3.6, §5.2): `CreateCollection`, `DescribeCollection`,
//! `ListCollections`, `DeleteCollection`. A collection is the engine app
//! `adb/{namespace}/{collection}` with one table, [`TABLE`], whose columns follow the row model
//! of spec §5.2: `id` (primary key), `vector`, one column per Metadata key, and `to_tsvector`
//! (the text of the FullTextRetrievalFields, analysed by the collection's Parser).

use super::{AdbError, Call, Fields};
use axum::http::StatusCode;
use pier_engine::sparse::SparseFields;
use pier_engine::vectors::{VectorIndexSpec, VectorMetric, VectorStorage};
use pier_engine::{AppKind, Engine, NewApp};
use pier_model::{Analyzer, FieldSchema, FieldType, Indexes, Schema, SearchIndex, TableSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The engine table of every collection.
pub const TABLE: &str = "rows";
/// The primary key column.
pub const ID: &str = "id";
/// The dense vector column (also the vector index's name).
pub const VECTOR: &str = "vector";
/// The full-text column.
pub const TSVECTOR: &str = "to_tsvector";
/// The document fields of a row's sparse vector (`SparseVector.Indices` / `.Values`). A `.`
/// cannot occur in a Metadata key, so they never meet a user's column.
pub const SPARSE_INDICES: &str = "sparse_vector.indices";
/// See [`SPARSE_INDICES`].
pub const SPARSE_VALUES: &str = "sparse_vector.values";
/// The search index over [`TSVECTOR`]; named `default` because filter-only scans
/// (`query=''`) run on the default index.
pub const TEXT_INDEX: &str = pier_query::DEFAULT_INDEX;
/// Metadata names AnalyticDB reserves for its own columns (spec §5.2).
const RESERVED: [&str; 4] = [ID, VECTOR, TSVECTOR, "source"];
/// HNSW defaults of AnalyticDB 7 (spec §5.2).
const DEFAULT_HNSW_M: usize = 16;
const DEFAULT_EF_CONSTRUCTION: usize = 64;
/// Candidate list size of a search when the query asks for fewer.
const DEFAULT_EF_SEARCH: usize = 128;
/// Below this many rows vector searches are exact scans.
const LINEAR_BUILD_THRESHOLD: usize = 1000;
/// Largest vector dimension pier accepts.
const MAX_DIMENSION: i64 = 16_000;

/// The distance a collection's index uses (`Metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Euclidean distance, reported as is, ascending.
    L2,
    /// Inner product, descending.
    Ip,
    /// Cosine similarity, descending.
    Cosine,
}

impl Metric {
    /// Parses `l2` / `ip` / `cosine` (any case).
    pub fn parse(name: &str, v: &str) -> Result<Metric, AdbError> {
        match v.to_ascii_lowercase().as_str() {
            "l2" => Ok(Metric::L2),
            "ip" => Ok(Metric::Ip),
            "cosine" => Ok(Metric::Cosine),
            _ => Err(AdbError::invalid(
                name,
                format!("'{v}' is not a metric; send l2, ip or cosine"),
            )),
        }
    }

    /// The engine's metric.
    pub fn vector_metric(self) -> VectorMetric {
        match self {
            Metric::L2 => VectorMetric::L2,
            Metric::Ip => VectorMetric::Ip,
            Metric::Cosine => VectorMetric::Cosine,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Ip => "ip",
            Metric::Cosine => "cosine",
        }
    }
}

/// How a metadata column is stored, from its PostgreSQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Integer types.
    Int,
    /// `boolean`, stored as 0/1.
    Bool,
    /// Floating and numeric types.
    Double,
    /// Text-like types stored as strings (text, varchar, uuid, dates, times).
    Text,
    /// `json` / `jsonb`, stored as JSON text.
    Json,
    /// Arrays of text.
    TextArray,
    /// Arrays of integers.
    IntArray,
    /// Arrays of floating numbers.
    DoubleArray,
}

impl Column {
    /// Maps a PostgreSQL type name (`int`, `varchar(64)`, `text[]`, `double precision`, …).
    pub fn from_pg(t: &str) -> Option<Column> {
        let lower = t.trim().to_ascii_lowercase();
        let (base, array) = match lower.strip_suffix("[]") {
            Some(b) => (b.trim().to_string(), true),
            None => match lower.strip_prefix('_') {
                Some(b) => (b.to_string(), true),
                None => (lower.clone(), false),
            },
        };
        let base = base
            .split('(')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let scalar = match base.as_str() {
            "smallint" | "int2" | "integer" | "int" | "int4" | "bigint" | "int8" | "serial"
            | "bigserial" | "smallserial" => Column::Int,
            "boolean" | "bool" => Column::Bool,
            "real" | "float4" | "float8" | "double precision" | "float" | "numeric" | "decimal" => {
                Column::Double
            }
            "text"
            | "varchar"
            | "character varying"
            | "char"
            | "character"
            | "bpchar"
            | "uuid"
            | "date"
            | "time"
            | "timestamp"
            | "timestamptz"
            | "timestamp with time zone"
            | "timestamp without time zone"
            | "name"
            | "citext" => Column::Text,
            "json" | "jsonb" => Column::Json,
            _ => return None,
        };
        Some(match (scalar, array) {
            (s, false) => s,
            (Column::Int | Column::Bool, true) => Column::IntArray,
            (Column::Double, true) => Column::DoubleArray,
            (Column::Text | Column::Json, true) => Column::TextArray,
            (_, true) => return None,
        })
    }

    fn field_type(self) -> FieldType {
        match self {
            Column::Int | Column::Bool => FieldType::Int,
            Column::Double => FieldType::Double,
            Column::Text | Column::Json => FieldType::Literal,
            Column::TextArray => FieldType::LiteralArray,
            Column::IntArray => FieldType::IntArray,
            Column::DoubleArray => FieldType::DoubleArray,
        }
    }
}

/// A collection as created: what `DescribeCollection` answers and the dialect reads back
/// (stored as the engine app's dialect schema).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Collection {
    /// Namespace.
    pub namespace: String,
    /// Collection name.
    pub collection: String,
    /// Vector dimension.
    pub dimension: usize,
    /// Index metric.
    pub metrics: Metric,
    /// Full-text parser (`zh_cn` or `english`).
    pub parser: String,
    /// Metadata keys whose text feeds full-text search.
    pub full_text_retrieval_fields: Vec<String>,
    /// Metadata key → PostgreSQL type, in the order sent.
    pub metadata: Vec<(String, String)>,
    /// The index knobs as sent (accepted and kept; pier's HNSW uses HnswM and
    /// HnswEfConstruction).
    pub index_options: Map<String, Value>,
    /// Whether `DeleteVectorIndex` dropped the dense index: vector searches scan exactly until
    /// `CreateVectorIndex`.
    #[serde(default)]
    pub vector_index_deleted: bool,
}

impl Collection {
    /// The storage of metadata key `name`, if it is one.
    pub fn column(&self, name: &str) -> Option<Column> {
        self.metadata
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, t)| Column::from_pg(t))
    }

    /// Whether it was created with `SupportSparse=true` (rows may carry a `SparseVector`).
    pub fn supports_sparse(&self) -> bool {
        self.index_options.get("SupportSparse") == Some(&Value::from("true"))
    }

    /// The engine app holding it.
    pub fn app_name(&self) -> String {
        app_name(&self.namespace, &self.collection)
    }
}

/// The engine app of a collection (`/` keeps it apart from V3 app names).
pub fn app_name(namespace: &str, collection: &str) -> String {
    format!("adb/{namespace}/{collection}")
}

/// The namespace and collection of a collection's engine app name.
pub fn parse_app_name(app: &str) -> Option<(&str, &str)> {
    app.strip_prefix("adb/")?.split_once('/')
}

/// An open collection: its definition and its engine table.
pub struct Open {
    /// The definition.
    pub def: Collection,
    /// The engine table.
    pub table: Arc<pier_engine::Table>,
}

/// Resolves the call's `Namespace` + `Collection` after checking `NamespacePassword`; 404
/// `Collection.NotExist` when missing.
pub fn open(call: &Call) -> Result<Open, AdbError> {
    let namespace = call.namespace();
    if !call.trusted {
        let password = call.params.require("NamespacePassword")?;
        call.engine
            .namespaces()
            .check_password(namespace, password)?;
    }
    let name = call.params.require("Collection")?;
    open_existing(&call.engine, namespace, name).ok_or_else(|| missing(call, namespace, name))
}

/// Resolves the call's `Namespace` + `Collection` for an action with manager credentials
/// (`CreateVectorIndex`, `DeleteVectorIndex`), after checking them.
fn open_as_manager(call: &Call) -> Result<Open, AdbError> {
    call.check_manager()?;
    let namespace = call.namespace();
    call.engine.namespaces().describe(namespace)?;
    let name = call.params.require("Collection")?;
    open_existing(&call.engine, namespace, name).ok_or_else(|| missing(call, namespace, name))
}

/// Why a collection is not there: being rebuilt (503, retry), or absent (404).
fn missing(call: &Call, namespace: &str, name: &str) -> AdbError {
    if call.engine.is_rebuilding(&app_name(namespace, name)) {
        return AdbError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!(
                "collection '{name}' is being rebuilt after a ModifyCollection or CreateVectorIndex; retry in a moment"
            ),
        );
    }
    not_found(namespace, name)
}

fn open_existing(engine: &Engine, namespace: &str, name: &str) -> Option<Open> {
    open_app(engine, &app_name(namespace, name))
}

/// The collection held by engine app `app`, if it is one.
pub fn open_app(engine: &Engine, app: &str) -> Option<Open> {
    let app = engine.app(app)?;
    if app.kind != AppKind::AnalyticDb {
        return None;
    }
    let def: Collection = serde_json::from_value(app.dialect_schema.clone()?).ok()?;
    let table = app.tables.get(TABLE)?.clone();
    Some(Open { def, table })
}

fn not_found(namespace: &str, name: &str) -> AdbError {
    AdbError::new(
        StatusCode::NOT_FOUND,
        "Collection.NotExist",
        format!(
            "collection '{name}' does not exist in namespace '{namespace}'; create it with CreateCollection"
        ),
    )
}

/// The collections of a namespace, sorted.
pub fn names_in(engine: &Engine, namespace: &str) -> Vec<String> {
    let prefix = format!("adb/{namespace}/");
    let mut names: Vec<String> = engine
        .list_apps()
        .into_iter()
        .filter_map(|a| a.name.strip_prefix(&prefix).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Index knobs accepted and kept as sent (spec §5.2).
const INDEX_OPTIONS: [&str; 9] = [
    "HnswM",
    "HnswEfConstruction",
    "PqEnable",
    "ExternalStorage",
    "Algorithm",
    "VectorIndexConfig",
    "MetadataIndices",
    "SupportSparse",
    "SparseVectorIndexConfig",
];

/// `CreateCollection` (manager credentials).
pub fn create_collection(call: &Call) -> Result<Fields, AdbError> {
    call.check_manager()?;
    let namespace = call.namespace().to_string();
    call.engine.namespaces().describe(&namespace)?;
    let def = parse_definition(call, namespace)?;
    let (schema, vectors) = engine_schema(&def);
    call.engine
        .create(NewApp {
            name: def.app_name(),
            kind: AppKind::AnalyticDb,
            app_type: pier_model::AppType::Advanced,
            schema,
            vectors,
            dialect_schema: Some(serde_json::to_value(&def).map_err(AdbError::internal)?),
            quota: Default::default(),
        })
        .map_err(|e| match e {
            pier_engine::EngineError::AppExists(_) => AdbError::new(
                StatusCode::CONFLICT,
                "Collection.AlreadyExist",
                format!(
                    "collection '{}' already exists in namespace '{}'; delete it first or pick another name",
                    def.collection, def.namespace
                ),
            ),
            pier_engine::EngineError::Invalid(m) => AdbError::invalid("Metadata", m),
            e => AdbError::internal(e),
        })?;
    Ok(Fields::new())
}

fn parse_definition(call: &Call, namespace: String) -> Result<Collection, AdbError> {
    let p = &call.params;
    let collection = p.require("Collection")?.to_string();
    pier_model::schema::validate_name("collection", &collection)
        .map_err(|e| AdbError::invalid("Collection", e.0))?;
    let dimension = p.int("Dimension")?.ok_or_else(|| {
        AdbError::invalid(
            "Dimension",
            "pier builds the vector index at creation: send Dimension (CreateVectorIndex can change its Metrics and HNSW parameters later)",
        )
    })?;
    if !(1..=MAX_DIMENSION).contains(&dimension) {
        return Err(AdbError::invalid(
            "Dimension",
            format!("{dimension} is out of range; send 1 to {MAX_DIMENSION}"),
        ));
    }
    let metrics = p
        .get("Metrics")
        .map(|m| Metric::parse("Metrics", m))
        .transpose()?
        .unwrap_or(Metric::Cosine);
    let parser = p.get("Parser").unwrap_or("zh_cn").to_ascii_lowercase();
    if parser != "zh_cn" && parser != "english" {
        return Err(AdbError::invalid(
            "Parser",
            format!("'{parser}' is not a parser pier knows; send zh_cn or english"),
        ));
    }
    let raw: Map<String, Value> = p.json("Metadata")?.unwrap_or_default();
    let mut metadata = Vec::new();
    for (name, t) in raw {
        let Value::String(t) = t else {
            return Err(AdbError::invalid(
                "Metadata",
                format!("the type of '{name}' must be a string such as \"text\" or \"int\""),
            ));
        };
        check_field(&name, &t)?;
        metadata.push((name, t));
    }
    let full_text_retrieval_fields: Vec<String> = p
        .get("FullTextRetrievalFields")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    for f in &full_text_retrieval_fields {
        match metadata.iter().find(|(n, _)| n == f) {
            Some((_, t)) if Column::from_pg(t) == Some(Column::Text) => {}
            Some(_) => {
                return Err(AdbError::invalid(
                    "FullTextRetrievalFields",
                    format!("'{f}' is not a text column; full-text fields must be text/varchar"),
                ));
            }
            None => {
                return Err(AdbError::invalid(
                    "FullTextRetrievalFields",
                    format!("'{f}' is not a Metadata key; list keys of Metadata"),
                ));
            }
        }
    }
    let mut index_options = Map::new();
    for name in INDEX_OPTIONS {
        if let Some(v) = p.get(name) {
            let v = if name == "SupportSparse" {
                p.bool(name)?.unwrap_or(false).to_string()
            } else {
                v.to_string()
            };
            index_options.insert(name.into(), v.into());
        }
    }
    for name in ["HnswM", "HnswEfConstruction", "PqEnable", "ExternalStorage"] {
        if let Some(n) = p.int(name)?
            && n < 0
        {
            return Err(AdbError::invalid(name, "it must not be negative"));
        }
    }
    Ok(Collection {
        namespace,
        collection,
        dimension: dimension as usize,
        metrics,
        parser,
        full_text_retrieval_fields,
        metadata,
        index_options,
        vector_index_deleted: false,
    })
}

/// Checks a Metadata field: its name (not reserved, a valid identifier) and PostgreSQL type.
fn check_field(name: &str, t: &str) -> Result<(), AdbError> {
    if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(AdbError::invalid(
            "Metadata",
            format!(
                "'{name}' is a reserved column name (id, vector, to_tsvector, source); rename it"
            ),
        ));
    }
    pier_model::schema::validate_name("metadata field", name)
        .map_err(|e| AdbError::invalid("Metadata", e.0))?;
    if Column::from_pg(t).is_none() {
        return Err(AdbError::invalid(
            "Metadata",
            format!(
                "the type '{t}' of '{name}' is not supported; use an integer, boolean, real/double/numeric, text/varchar/uuid/date/timestamp, json/jsonb type or an array of those"
            ),
        ));
    }
    Ok(())
}

/// The HNSW parameters of `def`: `HnswM` (at least 2) and `HnswEfConstruction` (at least
/// 2·M), AnalyticDB 7's defaults when not sent.
fn hnsw_params(def: &Collection) -> (usize, usize) {
    let knob = |name: &str| {
        def.index_options
            .get(name)
            .and_then(Value::as_str)
            .and_then(|v| v.trim().parse::<usize>().ok())
    };
    let m = knob("HnswM").map_or(DEFAULT_HNSW_M, |m| m.max(2));
    let ef_construction =
        knob("HnswEfConstruction").map_or(DEFAULT_EF_CONSTRUCTION, |e| e.max(2 * m));
    (m, ef_construction)
}

fn engine_schema(def: &Collection) -> (Schema, Vec<VectorIndexSpec>) {
    let mut fields = vec![
        FieldSchema {
            name: ID.into(),
            field_type: FieldType::Literal,
            primary_key: true,
            join_with: None,
        },
        FieldSchema {
            name: VECTOR.into(),
            field_type: FieldType::FloatArray,
            primary_key: false,
            join_with: None,
        },
        FieldSchema {
            name: TSVECTOR.into(),
            field_type: FieldType::Text,
            primary_key: false,
            join_with: None,
        },
    ];
    let mut filter_fields = vec![ID.to_string()];
    for (name, t) in &def.metadata {
        let column = Column::from_pg(t).expect("checked at parse");
        fields.push(FieldSchema {
            name: name.clone(),
            field_type: column.field_type(),
            primary_key: false,
            join_with: None,
        });
        filter_fields.push(name.clone());
    }
    let analyzer = if def.parser == "english" {
        Analyzer::EnStandard
    } else {
        Analyzer::ChnStandard
    };
    let schema = Schema {
        tables: vec![TableSchema {
            name: TABLE.into(),
            primary_table: true,
            fields,
        }],
        indexes: Indexes {
            search_fields: vec![SearchIndex {
                name: TEXT_INDEX.into(),
                fields: vec![TSVECTOR.into()],
                analyzer,
            }],
            filter_fields,
        },
    };
    let (m, ef_construction) = hnsw_params(def);
    let spec = VectorIndexSpec {
        name: VECTOR.into(),
        field: VECTOR.into(),
        dimension: def.dimension,
        metric: def.metrics.vector_metric(),
        storage: VectorStorage::F32,
        m,
        ef_construction,
        ef_search: DEFAULT_EF_SEARCH,
        linear_build_threshold: LINEAR_BUILD_THRESHOLD,
        namespace_field: None,
        // Sparse vectors are scored by inner product only (spec §5.2); the rest of
        // SparseVectorIndexConfig (an HNSW over them) is kept as sent: pier's sparse index is
        // exact.
        sparse: def.supports_sparse().then(|| SparseFields {
            indices: SPARSE_INDICES.into(),
            values: SPARSE_VALUES.into(),
        }),
    };
    (schema, vec![spec])
}

/// `DescribeCollection` (namespace password).
pub fn describe_collection(call: &Call) -> Result<Fields, AdbError> {
    let c = open(call)?.def;
    let mut fields = call.instance_fields();
    let metadata: Map<String, Value> = c
        .metadata
        .iter()
        .map(|(n, t)| (n.clone(), Value::from(t.clone())))
        .collect();
    fields.insert("Namespace".into(), c.namespace.clone().into());
    fields.insert("Dimension".into(), c.dimension.into());
    fields.insert("Metrics".into(), c.metrics.name().into());
    fields.insert("Parser".into(), c.parser.clone().into());
    fields.insert(
        "FullTextRetrievalFields".into(),
        c.full_text_retrieval_fields.join(",").into(),
    );
    fields.insert("Metadata".into(), Value::Object(metadata));
    fields.insert("SupportSparse".into(), c.supports_sparse().into());
    fields.insert(
        "SparseVectorMetrics".into(),
        if c.supports_sparse() { "ip" } else { "" }.into(),
    );
    for (name, value) in &c.index_options {
        if name != "SupportSparse" {
            fields.insert(name.clone(), value.clone());
        }
    }
    Ok(fields)
}

/// `ListCollections` (namespace password): `Collections.Collection[]` and `Count`.
pub fn list_collections(call: &Call) -> Result<Fields, AdbError> {
    let namespace = call.namespace();
    let password = call.params.require("NamespacePassword")?;
    call.engine
        .namespaces()
        .check_password(namespace, password)?;
    let names = names_in(&call.engine, namespace);
    let mut fields = call.instance_fields();
    fields.insert("Namespace".into(), namespace.into());
    fields.insert("Count".into(), names.len().into());
    fields.insert("Collections".into(), json!({ "Collection": names }));
    Ok(fields)
}

/// `DeleteCollection` (namespace password): drops the collection and its rows.
pub fn delete_collection(call: &Call) -> Result<Fields, AdbError> {
    let c = open(call)?;
    let name = c.def.app_name();
    drop(c);
    call.engine.delete_app(&name).map_err(|e| match e {
        pier_engine::EngineError::AppNotFound(_) => not_found(
            call.namespace(),
            call.params.get("Collection").unwrap_or_default(),
        ),
        e => AdbError::internal(e),
    })?;
    Ok(Fields::new())
}

/// Applies a changed definition: the engine rebuilds the collection's indexes from its rows
/// when its columns or vector index change, and only records it otherwise.
fn alter(call: &Call, def: &Collection) -> Result<(), AdbError> {
    let (schema, vectors) = engine_schema(def);
    call.engine
        .alter(
            &def.app_name(),
            pier_engine::AppChange {
                schema,
                vectors,
                dialect_schema: Some(serde_json::to_value(def).map_err(AdbError::internal)?),
            },
        )
        .map_err(|e| match e {
            pier_engine::EngineError::AppNotFound(_) => not_found(&def.namespace, &def.collection),
            pier_engine::EngineError::Busy(m) => {
                AdbError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", m)
            }
            pier_engine::EngineError::Invalid(m) => AdbError::invalid("HnswM", m),
            e => AdbError::internal(e),
        })?;
    Ok(())
}

/// `ModifyCollection` (namespace password): `Metadata` is
/// `{"operations":[{"operator":"add","newMetaName":"…","newMetaType":"…","fullTextRetrieval":true}]}`.
/// An `add` makes a new column (NULL in the rows already there); `replace` (renaming or
/// retyping a column) is refused. Answers the new schema as a JSON string in `Metadata`.
pub fn modify_collection(call: &Call) -> Result<Fields, AdbError> {
    const FORMAT: &str =
        r#"send {"operations":[{"operator":"add","newMetaName":"field","newMetaType":"int"}]}"#;
    let mut def = open(call)?.def;
    let ops: Value = call
        .params
        .json("Metadata")?
        .ok_or_else(|| AdbError::missing("Metadata"))?;
    let ops = ops
        .get("operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| AdbError::invalid("Metadata", FORMAT))?;
    for op in ops {
        let text = |key: &str| op.get(key).and_then(Value::as_str).map(str::trim);
        match text("operator").map(str::to_ascii_lowercase).as_deref() {
            Some("add") => {
                let (Some(name), Some(t)) = (text("newMetaName"), text("newMetaType")) else {
                    return Err(AdbError::invalid(
                        "Metadata",
                        format!("an add needs newMetaName and newMetaType; {FORMAT}"),
                    ));
                };
                check_field(name, t)?;
                if def.column(name).is_some() {
                    return Err(AdbError::invalid(
                        "Metadata",
                        format!(
                            "'{name}' is already a Metadata field of the collection; add a new name"
                        ),
                    ));
                }
                let full_text = match op.get("fullTextRetrieval") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
                    Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
                    Some(other) => {
                        return Err(AdbError::invalid(
                            "Metadata",
                            format!("fullTextRetrieval of '{name}' is {other}; send true or false"),
                        ));
                    }
                };
                if full_text && Column::from_pg(t) != Some(Column::Text) {
                    return Err(AdbError::invalid(
                        "Metadata",
                        format!(
                            "'{name}' is not a text column; full-text fields must be text/varchar"
                        ),
                    ));
                }
                def.metadata.push((name.to_string(), t.to_string()));
                if full_text {
                    def.full_text_retrieval_fields.push(name.to_string());
                }
            }
            Some("replace") => {
                return Err(AdbError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "Unsupported",
                    "ModifyCollection 'replace' (renaming or retyping a field) is not supported by pier; add a new field with operator 'add' instead",
                ));
            }
            _ => {
                return Err(AdbError::invalid(
                    "Metadata",
                    format!("each operation's operator must be add or replace; {FORMAT}"),
                ));
            }
        }
    }
    alter(call, &def)?;
    let schema: Map<String, Value> = def
        .metadata
        .iter()
        .map(|(n, t)| (n.clone(), Value::from(t.clone())))
        .collect();
    let mut fields = Fields::new();
    fields.insert("Metadata".into(), Value::Object(schema).to_string().into());
    Ok(fields)
}

/// Whether a vector index action names the dense index (`Type` empty or `Dense`); a `Sparse`
/// one is refused with what to do instead.
fn dense_type(call: &Call, def: &Collection) -> Result<bool, AdbError> {
    match call
        .params
        .get("Type")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("dense") => Ok(true),
        Some("sparse") if def.supports_sparse() => Ok(false),
        Some("sparse") => Err(AdbError::invalid(
            "Type",
            format!(
                "collection '{}' was created without SupportSparse, and pier cannot add sparse vectors later; create a collection with SupportSparse=true",
                def.collection
            ),
        )),
        Some(_) => Err(AdbError::invalid("Type", "send Dense or Sparse")),
    }
}

/// Index knobs of `CreateVectorIndex` accepted and kept as sent (pier's graph uses HnswM and
/// HnswEfConstruction).
const VECTOR_INDEX_OPTIONS: [&str; 7] = [
    "HnswM",
    "HnswEfConstruction",
    "PqEnable",
    "ExternalStorage",
    "Algorithm",
    "Nlist",
    "RabitqBits",
];

/// `CreateVectorIndex` (manager account): (re)builds the dense index with `Metrics` (default:
/// the collection's), `HnswM` and `HnswEfConstruction` from the stored rows, and ends a
/// `DeleteVectorIndex`. `Dimension` must be the collection's. A `Sparse` index exists with
/// the collection (pier's sparse search is exact), so it is accepted as is.
pub fn create_vector_index(call: &Call) -> Result<Fields, AdbError> {
    let mut def = open_as_manager(call)?.def;
    if !dense_type(call, &def)? {
        return Ok(Fields::new());
    }
    let p = &call.params;
    let dimension = p
        .int("Dimension")?
        .ok_or_else(|| AdbError::missing("Dimension"))?;
    if usize::try_from(dimension).ok() != Some(def.dimension) {
        return Err(AdbError::invalid(
            "Dimension",
            format!(
                "{dimension} is not the collection's Dimension {}: pier fixes it at CreateCollection (create a new collection for another dimension)",
                def.dimension
            ),
        ));
    }
    for name in [
        "HnswM",
        "HnswEfConstruction",
        "PqEnable",
        "ExternalStorage",
        "Nlist",
        "RabitqBits",
    ] {
        if let Some(n) = p.int(name)?
            && n < 0
        {
            return Err(AdbError::invalid(name, "it must not be negative"));
        }
    }
    if let Some(m) = p.get("Metrics") {
        def.metrics = Metric::parse("Metrics", m)?;
    }
    for name in VECTOR_INDEX_OPTIONS {
        if let Some(v) = p.get(name) {
            def.index_options.insert(name.into(), v.into());
        }
    }
    def.vector_index_deleted = false;
    alter(call, &def)?;
    Ok(Fields::new())
}

/// `DeleteVectorIndex` (manager account): vector searches of the collection become exact
/// scans (by its Metrics) until `CreateVectorIndex`; the rows and their vectors stay. The
/// sparse index cannot be deleted (it is the sparse vectors themselves).
pub fn delete_vector_index(call: &Call) -> Result<Fields, AdbError> {
    let mut def = open_as_manager(call)?.def;
    if !dense_type(call, &def)? {
        return Err(AdbError::invalid(
            "Type",
            "pier's sparse index is exact and holds the sparse vectors themselves, so it cannot be deleted; delete the collection instead",
        ));
    }
    def.vector_index_deleted = true;
    alter(call, &def)?;
    Ok(Fields::new())
}
