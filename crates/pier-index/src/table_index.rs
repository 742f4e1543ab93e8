//! One table's tantivy index: the primary key, the stored document, a text field per search
//! index and a fast (columnar) field per filter field.

use crate::analyzer;
use parking_lot::Mutex;
use pier_model::{FieldSchema, FieldType, SearchIndex};
use serde_json::{Map, Value};
use std::path::Path;
use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TantivyDocument,
    TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, Term};

/// Memory budget of one table's index writer; segments are flushed when it fills.
const WRITER_HEAP_BYTES: usize = 48 * 1024 * 1024;
/// Segments this large are not merged further: a merge holds memory in proportion to the documents
/// it merges, and merging multi-million-document segments took the server's heap past 1.8 GiB in
/// the 10-minute push benchmark (BENCHMARKS.md). Searches then visit more, larger segments.
const MAX_MERGED_SEGMENT_DOCS: usize = 500_000;
/// Background merges per table at a time. tantivy's default of 4 competes with indexing for cores
/// the server does not have: with 1, sustained indexing went from 10.5 k to 12.0 k docs/s in the
/// 10-minute push benchmark (BENCHMARKS.md).
const MERGE_THREADS: usize = 1;

const PK_FIELD: &str = "__pk";
const SOURCE_FIELD: &str = "__source";

/// Index failures (I/O, corruption); the applier stops and reports them.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed.
    #[error("text index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The directory could not be created.
    #[error("text index: {0}")]
    Io(#[from] std::io::Error),
    /// The stored checkpoint is not a log position.
    #[error("text index: checkpoint payload '{0}' is not a log sequence number")]
    BadCheckpoint(String),
}

/// A table's index. Writes go through one writer (the table's applier); reads take a snapshot.
pub struct TableIndex {
    index: Index,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    reader: IndexReader,
    pk: Field,
    source: Field,
    search: Vec<(SearchIndex, Field)>,
    filters: Vec<(FieldSchema, Field)>,
}

/// Name of the tantivy field holding search index `name`.
pub fn search_field_name(name: &str) -> String {
    format!("idx_{name}")
}

/// Name of the tantivy fast field holding filter field `name`.
pub fn filter_field_name(name: &str) -> String {
    format!("attr_{name}")
}

fn build_schema(search: &[SearchIndex], filters: &[FieldSchema]) -> Schema {
    let mut b = Schema::builder();
    b.add_text_field(PK_FIELD, STRING | STORED);
    b.add_text_field(SOURCE_FIELD, STORED);
    for s in search {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(s.analyzer.name())
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        b.add_text_field(
            &search_field_name(&s.name),
            TextOptions::default().set_indexing_options(indexing),
        );
    }
    for f in filters {
        let name = filter_field_name(&f.name);
        let numeric = NumericOptions::default().set_fast().set_indexed();
        match f.field_type.element().unwrap_or(f.field_type) {
            FieldType::Int => b.add_i64_field(&name, numeric),
            FieldType::Float | FieldType::Double => b.add_f64_field(&name, numeric),
            FieldType::Timestamp => b.add_u64_field(&name, numeric),
            _ => b.add_text_field(&name, STRING | TextOptions::default().set_fast("raw")),
        };
    }
    b.build()
}

impl TableIndex {
    /// Opens the index in `dir`, creating it for these search indexes and filter fields if new.
    pub fn open(
        dir: &Path,
        search: &[SearchIndex],
        filters: &[FieldSchema],
    ) -> Result<TableIndex, IndexError> {
        std::fs::create_dir_all(dir)?;
        let index = if dir.join("meta.json").exists() {
            Index::open_in_dir(dir)?
        } else {
            Index::create_in_dir(dir, build_schema(search, filters))?
        };
        analyzer::register_all(index.tokenizers());
        let schema = index.schema();
        let field = |name: &str| schema.get_field(name);
        let search = search
            .iter()
            .map(|s| Ok((s.clone(), field(&search_field_name(&s.name))?)))
            .collect::<Result<_, tantivy::TantivyError>>()?;
        let filters = filters
            .iter()
            .map(|f| Ok((f.clone(), field(&filter_field_name(&f.name))?)))
            .collect::<Result<_, tantivy::TantivyError>>()?;
        let options = tantivy::indexer::IndexWriterOptions::builder()
            .num_worker_threads(1)
            .memory_budget_per_thread(WRITER_HEAP_BYTES)
            .num_merge_threads(MERGE_THREADS)
            .build();
        let writer = index.writer_with_options(options)?;
        let mut merge_policy = tantivy::indexer::LogMergePolicy::default();
        merge_policy.set_max_docs_before_merge(MAX_MERGED_SEGMENT_DOCS);
        writer.set_merge_policy(Box::new(merge_policy));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(TableIndex {
            pk: field(PK_FIELD)?,
            source: field(SOURCE_FIELD)?,
            index,
            writer: Mutex::new(writer),
            reader,
            search,
            filters,
        })
    }

    /// The log position covered by the last commit (0 if never committed).
    pub fn checkpoint(&self) -> Result<u64, IndexError> {
        match self.index.load_metas()?.payload {
            None => Ok(0),
            Some(p) => p.parse().map_err(|_| IndexError::BadCheckpoint(p)),
        }
    }

    /// Replaces (or inserts) the document with primary key `pk`.
    pub fn upsert(&self, pk: &str, doc: &Map<String, Value>) -> Result<(), IndexError> {
        let mut d = TantivyDocument::new();
        d.add_text(self.pk, pk);
        d.add_text(
            self.source,
            serde_json::to_string(doc).expect("a JSON map serialises"),
        );
        for (s, field) in &self.search {
            for name in &s.fields {
                for text in values(doc.get(name)) {
                    match text {
                        Value::String(t) => d.add_text(*field, t),
                        other => d.add_text(*field, other.to_string()),
                    }
                }
            }
        }
        for (f, field) in &self.filters {
            for v in values(doc.get(&f.name)) {
                match f.field_type.element().unwrap_or(f.field_type) {
                    FieldType::Int => v.as_i64().into_iter().for_each(|n| d.add_i64(*field, n)),
                    FieldType::Float | FieldType::Double => {
                        v.as_f64().into_iter().for_each(|n| d.add_f64(*field, n))
                    }
                    FieldType::Timestamp => {
                        v.as_u64().into_iter().for_each(|n| d.add_u64(*field, n))
                    }
                    _ => v.as_str().into_iter().for_each(|s| d.add_text(*field, s)),
                }
            }
        }
        let writer = self.writer.lock();
        writer.delete_term(Term::from_field_text(self.pk, pk));
        writer.add_document(d)?;
        Ok(())
    }

    /// Removes the document with primary key `pk`, if any.
    pub fn delete(&self, pk: &str) {
        self.writer
            .lock()
            .delete_term(Term::from_field_text(self.pk, pk));
    }

    /// Makes everything written so far durable and visible, recording `checkpoint` (the log
    /// position covered) in the commit.
    pub fn commit(&self, checkpoint: u64) -> Result<(), IndexError> {
        let mut writer = self.writer.lock();
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&checkpoint.to_string());
        prepared.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// A snapshot of the last commit.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// The document with primary key `pk` in the last commit.
    pub fn get(&self, pk: &str) -> Result<Option<Map<String, Value>>, IndexError> {
        let searcher = self.searcher();
        let query = TermQuery::new(Term::from_field_text(self.pk, pk), IndexRecordOption::Basic);
        let hits = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, addr)) = hits.first() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(*addr)?;
        let source = doc
            .get_first(self.source)
            .and_then(|v| v.as_str())
            .unwrap_or("{}");
        Ok(serde_json::from_str(source).ok())
    }

    /// The tantivy index (schema and tokenizers).
    pub(crate) fn tantivy(&self) -> &Index {
        &self.index
    }

    /// The primary-key field (raw, indexed).
    pub(crate) fn pk_field(&self) -> Field {
        self.pk
    }

    /// The stored-source field.
    pub(crate) fn source_field(&self) -> Field {
        self.source
    }

    /// The tantivy field of search index `name`.
    pub(crate) fn search_field(&self, name: &str) -> Option<Field> {
        self.search
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(_, f)| *f)
    }

    /// The names of the table's search indexes.
    pub fn search_index_names(&self) -> Vec<&str> {
        self.search.iter().map(|(s, _)| s.name.as_str()).collect()
    }

    /// The source fields of search index `name`.
    pub(crate) fn search_index_fields(&self, name: &str) -> Vec<String> {
        self.search
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(s, _)| s.fields.clone())
            .unwrap_or_default()
    }

    /// The tantivy field of the first search index that covers source field `name` (for
    /// highlighting it).
    pub(crate) fn search_field_for(&self, name: &str) -> Option<Field> {
        self.search
            .iter()
            .find(|(s, _)| s.fields.iter().any(|f| f == name))
            .map(|(_, f)| *f)
    }

    /// The table's attribute (filter) fields.
    pub fn filter_fields(&self) -> Vec<FieldSchema> {
        self.filters.iter().map(|(f, _)| f.clone()).collect()
    }

    /// The type of attribute field `name`, if it is one.
    pub(crate) fn filter_field(&self, name: &str) -> Option<FieldType> {
        self.filters
            .iter()
            .find(|(f, _)| f.name == name)
            .map(|(f, _)| f.field_type)
    }

    /// Number of live documents in the last commit.
    pub fn num_docs(&self) -> u64 {
        self.searcher().num_docs()
    }
}

/// The values of a field: each element of an array, or the scalar itself.
fn values(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    let items: &[Value] = match v {
        Some(Value::Array(a)) => a,
        Some(v) => std::slice::from_ref(v),
        None => &[],
    };
    items.iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_model::{Analyzer, Schema};
    use serde_json::json;
    use tantivy::query::QueryParser;

    fn open(dir: &Path) -> TableIndex {
        let s = Schema::from_json(&json!({"tables": {"main": {"fields": {
            "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}, "price": {"type": "INT"}, "tags": {"type": "LITERAL_ARRAY"}}}},
            "indexes": {"searchFields": {"default": {"fields": ["title"], "analyzer": "chn_standard"}}, "filterFields": ["price", "tags"]}}))
        .unwrap();
        let (search, filters) = pier_model::schema::table_indexes(&s, "main");
        assert_eq!(search[0].analyzer, Analyzer::ChnStandard);
        TableIndex::open(dir, &search, &filters).unwrap()
    }

    #[test]
    fn upsert_delete_commit_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let idx = open(dir.path());
        assert_eq!(idx.checkpoint().unwrap(), 0);
        let doc = |t: &str| {
            json!({"id": "1", "title": t, "price": 5, "tags": ["a", "b"]})
                .as_object()
                .unwrap()
                .clone()
        };
        idx.upsert("1", &doc("北京大学")).unwrap();
        idx.upsert("1", &doc("搜索引擎")).unwrap();
        idx.upsert("2", &doc("x")).unwrap();
        idx.delete("2");
        assert_eq!(idx.num_docs(), 0, "nothing visible before commit");
        idx.commit(42).unwrap();
        assert_eq!(idx.num_docs(), 1);
        assert_eq!(idx.get("1").unwrap().unwrap()["title"], json!("搜索引擎"));
        assert!(idx.get("2").unwrap().is_none());
        let searcher = idx.searcher();
        let parser = QueryParser::for_index(&idx.index, vec![idx.search[0].1]);
        let hits = searcher
            .search(
                &parser.parse_query("引擎").unwrap(),
                &tantivy::collector::Count,
            )
            .unwrap();
        assert_eq!(hits, 1);
        drop(idx);
        let idx = open(dir.path());
        assert_eq!(idx.checkpoint().unwrap(), 42);
        assert_eq!(idx.num_docs(), 1);
    }
}
