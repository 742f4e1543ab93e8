//! What the parser asks of an app schema: does a search index exist, is a field an attribute
//! (filter) field, and of which type.

use pier_model::{FieldType, Schema};

/// Whether the app has a search index called `name` (case-sensitive, as in the schema).
pub(crate) fn has_index(schema: &Schema, name: &str) -> bool {
    schema.indexes.search_fields.iter().any(|i| i.name == name)
}

/// The app's index names, for error messages.
pub(crate) fn index_names(schema: &Schema) -> String {
    let names: Vec<&str> = schema
        .indexes
        .search_fields
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    names.join(", ")
}

/// The type of attribute field `name` (written `field` or `table.field`), or None when the app
/// has no such attribute field.
pub(crate) fn attribute_type(schema: &Schema, name: &str) -> Option<FieldType> {
    schema.indexes.filter_fields.iter().find_map(|declared| {
        let (table, field) = match declared.split_once('.') {
            Some((t, f)) => (Some(t), f),
            None => (None, declared.as_str()),
        };
        if declared != name && field != name {
            return None;
        }
        let owner = match table {
            Some(t) => schema.table(t),
            None => schema.tables.iter().find(|t| t.primary_table),
        };
        owner
            .and_then(|t| t.field(field))
            .or_else(|| schema.tables.iter().find_map(|t| t.field(field)))
            .map(|f| f.field_type)
    })
}

/// The app's attribute field names, for error messages.
pub(crate) fn attribute_names(schema: &Schema) -> String {
    schema.indexes.filter_fields.join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The spec §5 example schema, grown with the fields the tests' examples use.
    pub(crate) fn demo_schema() -> Schema {
        let v = serde_json::json!({"tables": {"main": {"primaryTable": true, "name": "main", "fields": {
            "id": {"type": "LITERAL", "primaryKey": true},
            "name": {"type": "TEXT"},
            "title": {"type": "TEXT"},
            "buy": {"type": "INT"},
            "cat": {"type": "INT"},
            "cate_id": {"type": "INT"},
            "cate_name": {"type": "LITERAL"},
            "company_id": {"type": "INT"},
            "price": {"type": "DOUBLE"},
            "tags": {"type": "LITERAL_ARRAY"},
            "ids": {"type": "INT_ARRAY"},
            "lon": {"type": "DOUBLE"},
            "lat": {"type": "DOUBLE"},
            "loc": {"type": "GEO_POINT"},
            "create_timestamp": {"type": "TIMESTAMP"}}}},
         "indexes": {
            "searchFields": {
                "id": {"fields": ["id"]},
                "default": {"fields": ["title", "name"], "analyzer": "chn_standard"},
                "name": {"fields": ["name"], "analyzer": "chn_standard"},
                "title": {"fields": ["title"], "analyzer": "chn_standard"},
                "buy": {"fields": ["buy"]},
                "cate_name": {"fields": ["cate_name"]}},
            "filterFields": ["id", "buy", "cat", "cate_id", "cate_name", "company_id", "price",
                             "tags", "ids", "lon", "lat", "loc", "create_timestamp"]}});
        Schema::from_json(&v).expect("valid demo schema")
    }

    #[test]
    fn knows_indexes_and_attribute_types() {
        let s = demo_schema();
        assert!(has_index(&s, "default"));
        assert!(!has_index(&s, "nope"));
        assert_eq!(attribute_type(&s, "cate_name"), Some(FieldType::Literal));
        assert_eq!(attribute_type(&s, "price"), Some(FieldType::Double));
        assert_eq!(attribute_type(&s, "title"), None);
        assert!(index_names(&s).contains("default"));
        assert!(attribute_names(&s).contains("cate_id"));
    }
}
