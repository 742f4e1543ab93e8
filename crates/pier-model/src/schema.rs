//! App schemas in the cloud's own schema JSON (spec §5): tables with typed fields, one primary key
//! per table, a primary table and secondary tables, search indexes with analyzers and filter fields.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest app, table and field name (spec §6, "names").
pub const MAX_NAME_LEN: usize = 30;
/// Most fields in one app (spec §6: 256 on shared instances).
pub const MAX_FIELDS_PER_APP: usize = 256;
/// Most TEXT and SHORT_TEXT fields in one app.
pub const MAX_TEXT_FIELDS: usize = 32;
/// Most TIMESTAMP fields in one app.
pub const MAX_TIMESTAMP_FIELDS: usize = 4;
/// Most GEO_POINT fields in one app.
pub const MAX_GEO_FIELDS: usize = 2;
/// Most secondary tables in one app.
pub const MAX_SECONDARY_TABLES: usize = 10;
/// Field names the cloud reserves for itself (spec §5).
pub const RESERVED_FIELD_NAMES: &[&str] = &[
    "service_id",
    "ops_app_name",
    "inter_timestamp",
    "index_name",
    "pk",
    "ops_version",
    "ha_reserved_timestamp",
    "summary",
];

/// Standard apps refuse `update` and `timestamp`; advanced apps accept both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppType {
    /// No `update` command, no per-operation timestamp.
    Standard,
    /// Everything.
    #[serde(alias = "advance")]
    Advanced,
}

impl std::str::FromStr for AppType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "standard" => Ok(AppType::Standard),
            "advanced" | "advance" => Ok(AppType::Advanced),
            other => Err(format!(
                "unknown app type '{other}': use 'standard' or 'advanced'"
            )),
        }
    }
}

/// The field types of spec §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum FieldType {
    Int,
    IntArray,
    Float,
    FloatArray,
    Double,
    DoubleArray,
    Literal,
    LiteralArray,
    ShortText,
    Text,
    Timestamp,
    GeoPoint,
}

impl FieldType {
    fn parse(s: &str) -> Option<FieldType> {
        serde_json::from_value(Value::String(s.to_ascii_uppercase())).ok()
    }

    /// The element type of an array type, or None for a scalar type.
    pub fn element(self) -> Option<FieldType> {
        match self {
            FieldType::IntArray => Some(FieldType::Int),
            FieldType::FloatArray => Some(FieldType::Float),
            FieldType::DoubleArray => Some(FieldType::Double),
            FieldType::LiteralArray => Some(FieldType::Literal),
            _ => None,
        }
    }

    /// Analysed text types, searchable only through an index.
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::Text | FieldType::ShortText)
    }

    /// Types that may be filter (attribute) fields (spec §5).
    pub fn can_filter(self) -> bool {
        !self.is_text()
    }

    /// Types that may be part of a search index (FLOAT/DOUBLE are attribute-only).
    pub fn can_search(self) -> bool {
        !matches!(
            self,
            FieldType::Float | FieldType::FloatArray | FieldType::Double | FieldType::DoubleArray
        )
    }
}

/// A text analyzer for a search index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Analyzer {
    /// General Chinese word segmentation (jieba, search mode); ASCII words lower-cased.
    ChnStandard,
    /// One token per CJK character; ASCII words lower-cased.
    ChnSingle,
    /// English words, lower-cased and stemmed.
    EnStandard,
    /// The whole value as one exact token.
    Keyword,
}

impl Analyzer {
    /// Every analyzer name accepted in a schema, with its meaning, for error messages.
    pub const NAMES: &str = "chn_standard (alias chn_ecommerce), chn_single, en_standard (alias english, fuzzy_english), keyword";

    fn parse(s: &str) -> Option<Analyzer> {
        Some(match s {
            "chn_standard" | "chn_ecommerce" | "chn_it" | "chn_general" => Analyzer::ChnStandard,
            "chn_single" => Analyzer::ChnSingle,
            "en_standard" | "english" | "fuzzy_english" | "en_stemming" => Analyzer::EnStandard,
            "keyword" => Analyzer::Keyword,
            _ => return None,
        })
    }

    /// The analyzer's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Analyzer::ChnStandard => "chn_standard",
            Analyzer::ChnSingle => "chn_single",
            Analyzer::EnStandard => "en_standard",
            Analyzer::Keyword => "keyword",
        }
    }
}

/// A field of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSchema {
    /// Field name as declared.
    pub name: String,
    /// Field type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether this is the table's primary key.
    #[serde(rename = "primaryKey")]
    pub primary_key: bool,
    /// `table.field` of the primary table this field joins to (secondary tables).
    #[serde(rename = "joinWith", skip_serializing_if = "Option::is_none", default)]
    pub join_with: Option<String>,
}

/// A table of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    /// Table name.
    pub name: String,
    /// Whether this is the app's primary table.
    #[serde(rename = "primaryTable")]
    pub primary_table: bool,
    /// Fields in declaration order.
    pub fields: Vec<FieldSchema>,
}

impl TableSchema {
    /// The primary key field.
    pub fn primary_key(&self) -> &FieldSchema {
        self.fields
            .iter()
            .find(|f| f.primary_key)
            .expect("validated schema has a primary key")
    }

    /// Looks a field up by name, ignoring ASCII case (pushes name fields case-insensitively).
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// A search index: one or more fields analysed together (a composite index when several).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchIndex {
    /// Index name, as used in `query=name:'term'`.
    pub name: String,
    /// Source fields (of the primary table, or `table.field`).
    pub fields: Vec<String>,
    /// The analyzer.
    pub analyzer: Analyzer,
}

/// The app's indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Indexes {
    /// Search indexes by name.
    #[serde(rename = "searchFields")]
    pub search_fields: Vec<SearchIndex>,
    /// Attribute fields usable in filter, sort, aggregate, distinct.
    #[serde(rename = "filterFields")]
    pub filter_fields: Vec<String>,
}

/// A validated app schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Tables in declaration order; exactly one is primary.
    pub tables: Vec<TableSchema>,
    /// Search and filter indexes.
    pub indexes: Indexes,
}

/// Why a schema was refused, in words that say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema: {0}")]
pub struct SchemaError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError(msg.into()))
}

/// Checks a name against the `[0-9A-Za-z_]{1,30}` rule; `what` names it in the message.
pub fn validate_name(what: &str, name: &str) -> Result<(), SchemaError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return err(format!(
            "{what} name '{name}' must be 1 to {MAX_NAME_LEN} characters long"
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return err(format!(
            "{what} name '{name}' may contain only letters, digits and '_'"
        ));
    }
    Ok(())
}

fn get_bool(v: &Value, keys: &[&str]) -> bool {
    keys.iter()
        .find_map(|k| v.get(*k))
        .map(|b| b.as_bool().unwrap_or(false) || b.as_str() == Some("true"))
        .unwrap_or(false)
}

fn get<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| v.get(*k))
}

impl Schema {
    /// Parses and validates the cloud's schema JSON (camelCase or the Java SDK's snake_case keys).
    pub fn from_json(v: &Value) -> Result<Schema, SchemaError> {
        let tables_v = match v.get("tables") {
            Some(Value::Object(m)) if !m.is_empty() => m,
            _ => return err("'tables' must be an object with at least one table"),
        };
        let mut tables = Vec::new();
        for (key, t) in tables_v {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(key)
                .to_string();
            validate_name("table", &name)?;
            let fields_v = match t.get("fields") {
                Some(Value::Object(m)) if !m.is_empty() => m,
                _ => {
                    return err(format!(
                        "table '{name}': 'fields' must be a non-empty object"
                    ));
                }
            };
            let mut fields = Vec::new();
            for (fkey, f) in fields_v {
                let fname = f
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(fkey)
                    .to_string();
                validate_name("field", &fname)?;
                if RESERVED_FIELD_NAMES.contains(&fname.to_ascii_lowercase().as_str()) {
                    return err(format!(
                        "table '{name}': field name '{fname}' is reserved (reserved: {})",
                        RESERVED_FIELD_NAMES.join(", ")
                    ));
                }
                let ty = f.get("type").and_then(Value::as_str).unwrap_or("");
                let field_type = FieldType::parse(ty).ok_or_else(|| {
                    SchemaError(format!(
                        "table '{name}', field '{fname}': unknown type '{ty}' (use INT, INT_ARRAY, FLOAT, FLOAT_ARRAY, DOUBLE, DOUBLE_ARRAY, LITERAL, LITERAL_ARRAY, SHORT_TEXT, TEXT, TIMESTAMP or GEO_POINT)"
                    ))
                })?;
                let join_with = get(f, &["joinWith", "join_with"])
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if fields
                    .iter()
                    .any(|x: &FieldSchema| x.name.eq_ignore_ascii_case(&fname))
                {
                    return err(format!("table '{name}': field '{fname}' is declared twice"));
                }
                fields.push(FieldSchema {
                    name: fname,
                    field_type,
                    primary_key: get_bool(f, &["primaryKey", "primary_key"]),
                    join_with,
                });
            }
            let pks: Vec<_> = fields.iter().filter(|f| f.primary_key).collect();
            if pks.len() != 1 {
                return err(format!(
                    "table '{name}' must have exactly one primary key field (\"primaryKey\": true), found {}",
                    pks.len()
                ));
            }
            if !matches!(pks[0].field_type, FieldType::Int | FieldType::Literal) {
                return err(format!(
                    "table '{name}': primary key '{}' must be INT or LITERAL",
                    pks[0].name
                ));
            }
            tables.push(TableSchema {
                name,
                primary_table: get_bool(t, &["primaryTable", "primary_table"]),
                fields,
            });
        }
        if tables.len() == 1 {
            tables[0].primary_table = true;
        }
        let primaries = tables.iter().filter(|t| t.primary_table).count();
        if primaries != 1 {
            return err(format!(
                "exactly one table must be the primary table (\"primaryTable\": true), found {primaries}"
            ));
        }
        if tables.len() > 1 + MAX_SECONDARY_TABLES {
            return err(format!(
                "an app has at most {MAX_SECONDARY_TABLES} secondary tables, found {}",
                tables.len() - 1
            ));
        }
        let indexes = parse_indexes(v.get("indexes"), &tables)?;
        let schema = Schema { tables, indexes };
        schema.check_limits()?;
        Ok(schema)
    }

    /// The primary table.
    pub fn primary_table(&self) -> &TableSchema {
        self.tables
            .iter()
            .find(|t| t.primary_table)
            .expect("validated schema has a primary table")
    }

    /// Looks a table up by exact name.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    fn check_limits(&self) -> Result<(), SchemaError> {
        let all: Vec<&FieldSchema> = self.tables.iter().flat_map(|t| &t.fields).collect();
        let count =
            |pred: &dyn Fn(FieldType) -> bool| all.iter().filter(|f| pred(f.field_type)).count();
        let checks: [(usize, usize, &str); 4] = [
            (all.len(), MAX_FIELDS_PER_APP, "fields"),
            (
                count(&|t| t.is_text()),
                MAX_TEXT_FIELDS,
                "TEXT and SHORT_TEXT fields",
            ),
            (
                count(&|t| t == FieldType::Timestamp),
                MAX_TIMESTAMP_FIELDS,
                "TIMESTAMP fields",
            ),
            (
                count(&|t| t == FieldType::GeoPoint),
                MAX_GEO_FIELDS,
                "GEO_POINT fields",
            ),
        ];
        for (n, max, what) in checks {
            if n > max {
                return err(format!("an app has at most {max} {what}, found {n}"));
            }
        }
        Ok(())
    }

    /// Serialises back to the cloud's schema JSON shape.
    pub fn to_json(&self) -> Value {
        let tables: serde_json::Map<String, Value> = self
            .tables
            .iter()
            .map(|t| {
                let fields: serde_json::Map<String, Value> = t
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), serde_json::to_value(f).expect("plain struct")))
                    .collect();
                (
                    t.name.clone(),
                    serde_json::json!({"name": t.name, "primaryTable": t.primary_table, "fields": fields}),
                )
            })
            .collect();
        let search: serde_json::Map<String, Value> = self
            .indexes
            .search_fields
            .iter()
            .map(|i| {
                (
                    i.name.clone(),
                    serde_json::json!({"fields": i.fields, "analyzer": i.analyzer.name()}),
                )
            })
            .collect();
        serde_json::json!({
            "tables": tables,
            "indexes": {"searchFields": search, "filterFields": self.indexes.filter_fields},
        })
    }
}

/// Resolves `field` or `table.field` to the declaring table and field.
fn resolve<'a>(
    tables: &'a [TableSchema],
    reference: &str,
) -> Option<(&'a TableSchema, &'a FieldSchema)> {
    match reference.split_once('.') {
        Some((t, f)) => {
            let table = tables.iter().find(|x| x.name == t)?;
            Some((table, table.field(f)?))
        }
        None => {
            let primary = tables.iter().find(|t| t.primary_table)?;
            primary.field(reference).map(|f| (primary, f)).or_else(|| {
                tables
                    .iter()
                    .find_map(|t| t.field(reference).map(|f| (t, f)))
            })
        }
    }
}

fn parse_indexes(v: Option<&Value>, tables: &[TableSchema]) -> Result<Indexes, SchemaError> {
    let Some(v) = v else {
        return Ok(Indexes::default());
    };
    let mut indexes = Indexes::default();
    if let Some(sf) = get(v, &["searchFields", "search_fields"]) {
        let Some(sf) = sf.as_object() else {
            return err(
                "'indexes.searchFields' must be an object of index name -> {fields, analyzer}",
            );
        };
        for (name, def) in sf {
            if name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return err(format!(
                    "index name '{name}' must be 1 to 64 letters, digits or '_'"
                ));
            }
            let fields: Vec<String> = match def.get("fields") {
                Some(Value::Array(a)) if !a.is_empty() => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        SchemaError(format!("index '{name}': 'fields' must be field names"))
                    })?,
                _ => {
                    return err(format!(
                        "index '{name}': 'fields' must be a non-empty array of field names"
                    ));
                }
            };
            let mut types = Vec::new();
            for f in &fields {
                let (_, field) = resolve(tables, f).ok_or_else(|| {
                    SchemaError(format!(
                        "index '{name}': field '{f}' is not declared in any table"
                    ))
                })?;
                if !field.field_type.can_search() {
                    return err(format!(
                        "index '{name}': field '{f}' is {:?}; FLOAT and DOUBLE fields can only be filter fields",
                        field.field_type
                    ));
                }
                types.push(field.field_type);
            }
            let analyzer = match def.get("analyzer").and_then(Value::as_str) {
                Some(a) => Analyzer::parse(a).ok_or_else(|| {
                    SchemaError(format!(
                        "index '{name}': unknown analyzer '{a}' (supported: {})",
                        Analyzer::NAMES
                    ))
                })?,
                None if types.iter().any(|t| t.is_text()) => Analyzer::ChnStandard,
                None => Analyzer::Keyword,
            };
            if types.len() > 1 && !types.iter().all(|t| t.is_text()) {
                return err(format!(
                    "index '{name}': a composite index may only combine TEXT and SHORT_TEXT fields"
                ));
            }
            if analyzer != Analyzer::Keyword && !types.iter().all(|t| t.is_text()) {
                return err(format!(
                    "index '{name}': analyzer '{}' applies to TEXT and SHORT_TEXT fields; use 'keyword' (or no analyzer) for {:?}",
                    analyzer.name(),
                    types[0]
                ));
            }
            indexes.search_fields.push(SearchIndex {
                name: name.clone(),
                fields,
                analyzer,
            });
        }
    }
    if let Some(ff) = get(v, &["filterFields", "filter_fields"]) {
        let Some(ff) = ff.as_array() else {
            return err("'indexes.filterFields' must be an array of field names");
        };
        for f in ff {
            let Some(f) = f.as_str() else {
                return err("'indexes.filterFields' must contain field names");
            };
            let (_, field) = resolve(tables, f).ok_or_else(|| {
                SchemaError(format!("filter field '{f}' is not declared in any table"))
            })?;
            if !field.field_type.can_filter() {
                return err(format!(
                    "filter field '{f}' is {:?}; TEXT and SHORT_TEXT fields cannot be filter fields",
                    field.field_type
                ));
            }
            indexes.filter_fields.push(f.to_string());
        }
    }
    Ok(indexes)
}

/// The per-table view of the app's indexes: which search indexes and filter fields draw on this table.
pub fn table_indexes(schema: &Schema, table: &str) -> (Vec<SearchIndex>, Vec<FieldSchema>) {
    let Some(t) = schema.table(table) else {
        return (Vec::new(), Vec::new());
    };
    let owns = |reference: &str| {
        resolve(&schema.tables, reference).is_some_and(|(owner, _)| owner.name == t.name)
    };
    let search = schema
        .indexes
        .search_fields
        .iter()
        .filter(|i| i.fields.iter().any(|f| owns(f)))
        .map(|i| SearchIndex {
            fields: i
                .fields
                .iter()
                .filter(|f| owns(f))
                .map(|f| resolve(&schema.tables, f).expect("owned").1.name.clone())
                .collect(),
            ..i.clone()
        })
        .collect();
    let filters = schema
        .indexes
        .filter_fields
        .iter()
        .filter(|f| owns(f))
        .map(|f| {
            let field = resolve(&schema.tables, f).expect("owned").1;
            (field.name.clone(), field.clone())
        })
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect();
    (search, filters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn demo() -> Value {
        json!({"tables": {"main": {"primaryTable": true, "name": "main", "fields": {
            "id": {"name": "id", "type": "LITERAL", "primaryKey": true},
            "title": {"name": "title", "type": "TEXT", "primaryKey": false},
            "buy": {"name": "buy", "type": "INT", "primaryKey": false},
            "cate_id": {"name": "cate_id", "type": "INT", "primaryKey": false},
            "cate_name": {"name": "cate_name", "type": "LITERAL", "primaryKey": false}}}},
         "indexes": {"searchFields": {"id": {"fields": ["id"]}, "default": {"fields": ["title"], "analyzer": "chn_standard"},
                                      "cate_name": {"fields": ["cate_name"]}},
                     "filterFields": ["id", "buy", "cate_id", "cate_name"]}})
    }

    #[test]
    fn parses_the_spec_example() {
        let s = Schema::from_json(&demo()).unwrap();
        assert_eq!(s.primary_table().name, "main");
        assert_eq!(s.primary_table().primary_key().name, "id");
        assert_eq!(s.indexes.search_fields.len(), 3);
        let default = s
            .indexes
            .search_fields
            .iter()
            .find(|i| i.name == "default")
            .unwrap();
        assert_eq!(default.analyzer, Analyzer::ChnStandard);
        let id = s
            .indexes
            .search_fields
            .iter()
            .find(|i| i.name == "id")
            .unwrap();
        assert_eq!(id.analyzer, Analyzer::Keyword);
        assert_eq!(Schema::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn refuses_what_the_spec_forbids() {
        let mut v = demo();
        v["tables"]["main"]["fields"]["summary"] = json!({"type": "TEXT"});
        assert!(Schema::from_json(&v).unwrap_err().0.contains("reserved"));

        let mut v = demo();
        v["tables"]["main"]["fields"]["id"]["primaryKey"] = json!(false);
        assert!(
            Schema::from_json(&v)
                .unwrap_err()
                .0
                .contains("exactly one primary key")
        );

        let mut v = demo();
        v["tables"]["main"]["fields"]["a_very_long_field_name_over_thirty"] =
            json!({"type": "INT"});
        assert!(Schema::from_json(&v).unwrap_err().0.contains("1 to 30"));

        let mut v = demo();
        v["indexes"]["filterFields"] = json!(["title"]);
        assert!(
            Schema::from_json(&v)
                .unwrap_err()
                .0
                .contains("cannot be filter")
        );

        let mut v = demo();
        v["indexes"]["searchFields"]["default"]["analyzer"] = json!("klingon");
        assert!(
            Schema::from_json(&v)
                .unwrap_err()
                .0
                .contains("unknown analyzer")
        );

        let mut v = demo();
        v["tables"]["main"]["fields"]["buy"]["type"] = json!("BIGINT");
        assert!(
            Schema::from_json(&v)
                .unwrap_err()
                .0
                .contains("unknown type")
        );
    }

    #[test]
    fn secondary_tables_get_their_own_index_view() {
        let v = json!({"tables": {
            "main": {"primaryTable": true, "fields": {"id": {"type": "INT", "primaryKey": true}, "title": {"type": "TEXT"}}},
            "ext": {"fields": {"eid": {"type": "INT", "primaryKey": true}, "main_id": {"type": "INT", "joinWith": "main.id"}, "note": {"type": "TEXT"}}}},
            "indexes": {"searchFields": {"default": {"fields": ["title", "ext.note"]}}, "filterFields": ["ext.main_id"]}});
        let s = Schema::from_json(&v).unwrap();
        let (search, filters) = table_indexes(&s, "ext");
        assert_eq!(search[0].fields, vec!["note"]);
        assert_eq!(filters[0].name, "main_id");
        let (search, filters) = table_indexes(&s, "main");
        assert_eq!(search[0].fields, vec!["title"]);
        assert!(filters.is_empty());
    }
}
