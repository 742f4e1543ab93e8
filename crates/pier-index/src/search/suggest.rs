//! Drop-down suggestions (spec §4.5): completions of what a user has typed so far.
//!
//! A suggestion model is named after a search index; its suggestions are the values of the
//! index's first field (typically a title). The typed text is analysed like a query and matched
//! as a phrase whose last word may be incomplete (tantivy's `PhrasePrefixQuery`); among the best
//! matching documents, values shared by more documents come first, then better matches, then
//! shorter ones.

use super::SearchError;
use crate::TableIndex;
use pier_query::codes;
use serde_json::Value;
use std::collections::HashMap;
use tantivy::collector::TopDocs;
use tantivy::query::PhrasePrefixQuery;
use tantivy::schema::Value as _;
use tantivy::{Searcher, TantivyDocument, Term};

/// Candidate documents read per suggestion asked for.
const CANDIDATES_PER_HIT: usize = 20;
/// Terms an incomplete last word may expand to.
const MAX_EXPANSIONS: u32 = 200;

impl TableIndex {
    /// Up to `hit` completions of `typed` from search index `index`.
    pub fn suggest(
        &self,
        searcher: &Searcher,
        index: &str,
        typed: &str,
        hit: usize,
    ) -> Result<Vec<String>, SearchError> {
        let field = self.search_field(index).ok_or_else(|| SearchError {
            code: codes::INDEX_NOT_EXIST,
            message: format!(
                "no suggestion model '{index}': suggestions are named after a search index (indexes: {})",
                self.search_index_names().join(", ")
            ),
        })?;
        let Some(source) = self.search_index_fields(index).into_iter().next() else {
            return Ok(Vec::new());
        };
        let mut tokenizer = self
            .tantivy()
            .tokenizer_for_field(field)
            .map_err(SearchError::internal)?;
        let mut stream = tokenizer.token_stream(typed);
        let mut terms = Vec::new();
        while let Some(token) = stream.next() {
            terms.push((token.position, Term::from_field_text(field, &token.text)));
        }
        if terms.is_empty() || hit == 0 {
            return Ok(Vec::new());
        }
        let mut query = PhrasePrefixQuery::new_with_offset(terms);
        query.set_max_expansions(MAX_EXPANSIONS);
        let top = searcher
            .search(
                &query,
                &TopDocs::with_limit(hit * CANDIDATES_PER_HIT).order_by_score(),
            )
            .map_err(SearchError::internal)?;
        // value → (documents, best score, first seen)
        let mut seen: HashMap<String, (usize, f32, usize)> = HashMap::new();
        for (rank, (score, address)) in top.into_iter().enumerate() {
            let doc: TantivyDocument = searcher.doc(address).map_err(SearchError::internal)?;
            let Some(text) = doc.get_first(self.source_field()).and_then(|v| v.as_str()) else {
                continue;
            };
            let value = match serde_json::from_str::<serde_json::Map<String, Value>>(text)
                .ok()
                .and_then(|d| d.get(&source).cloned())
            {
                Some(Value::String(s)) => s,
                Some(Value::Null) | None => continue,
                Some(other) => other.to_string(),
            };
            let e = seen.entry(value).or_insert((0, score, rank));
            e.0 += 1;
        }
        let mut ranked: Vec<(String, (usize, f32, usize))> = seen.into_iter().collect();
        ranked.sort_by(|(a, x), (b, y)| {
            y.0.cmp(&x.0)
                .then(y.1.total_cmp(&x.1))
                .then(a.chars().count().cmp(&b.chars().count()))
                .then(x.2.cmp(&y.2))
        });
        Ok(ranked.into_iter().take(hit).map(|(v, _)| v).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::TableIndex;
    use pier_model::Schema;
    use serde_json::json;

    #[test]
    fn completes_the_last_word_and_ranks_shared_values_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Schema::from_json(&json!({"tables": {"main": {"fields": {
            "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}}}},
            "indexes": {"searchFields": {"default": {"fields": ["title"], "analyzer": "chn_standard"}}}}))
        .unwrap();
        let (search, filters) = pier_model::schema::table_indexes(&s, "main");
        let idx = TableIndex::open(dir.path(), &search, &filters).unwrap();
        for (id, title) in [
            ("1", "red dress long"),
            ("2", "red dress long"),
            ("3", "red dresser"),
            ("4", "blue dress"),
            ("5", "北京大学"),
        ] {
            idx.upsert(id, json!({"id": id, "title": title}).as_object().unwrap())
                .unwrap();
        }
        idx.commit(1).unwrap();
        let searcher = idx.searcher();
        let got = idx.suggest(&searcher, "default", "red dre", 10).unwrap();
        assert_eq!(got, vec!["red dress long", "red dresser"]);
        let got = idx.suggest(&searcher, "default", "dre", 1).unwrap();
        assert_eq!(got, vec!["red dress long"]);
        assert_eq!(
            idx.suggest(&searcher, "default", "北京", 5).unwrap(),
            vec!["北京大学"]
        );
        assert!(idx.suggest(&searcher, "default", "", 5).unwrap().is_empty());
        let e = idx.suggest(&searcher, "nope", "red", 5).unwrap_err();
        assert_eq!(e.code, 6101);
    }
}
