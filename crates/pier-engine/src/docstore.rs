//! The document store, source of truth for every table: primary key → latest document and its
//! version, or a tombstone. Versions make applying idempotent: an operation whose version is not
//! newer than the stored one changes nothing, so replaying the log after a crash applies none twice
//! and an older operation never overwrites a newer one.

use fjall::Keyspace;
use serde_json::{Map, Value};

/// The order of operations on one key: the client timestamp (or receive time), then the log
/// sequence, then the position in the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Client timestamp in ms, or receive time when the client sent none.
    pub timestamp: i64,
    /// Log sequence of the batch.
    pub seq: u64,
    /// Position in the batch.
    pub index: u32,
}

/// What the store holds for a key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDoc {
    /// Version of the operation that wrote this state.
    pub version: Version,
    /// The document, or None for a tombstone (deleted).
    pub doc: Option<Map<String, Value>>,
}

const HEADER: usize = 8 + 8 + 4 + 1;

fn key(table_id: u64, pk: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + pk.len());
    k.extend_from_slice(&table_id.to_be_bytes());
    k.extend_from_slice(pk.as_bytes());
    k
}

fn write_header(out: &mut Vec<u8>, version: Version, live: bool) {
    out.extend_from_slice(&version.timestamp.to_be_bytes());
    out.extend_from_slice(&version.seq.to_be_bytes());
    out.extend_from_slice(&version.index.to_be_bytes());
    out.push(u8::from(live));
}

fn encode(s: &StoredDoc) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + 256);
    write_header(&mut out, s.version, s.doc.is_some());
    if let Some(doc) = &s.doc {
        serde_json::to_writer(&mut out, doc).expect("a JSON map serialises");
    }
    out
}

fn decode_version(bytes: &[u8]) -> Option<Version> {
    if bytes.len() < HEADER {
        return None;
    }
    Some(Version {
        timestamp: i64::from_be_bytes(bytes[0..8].try_into().ok()?),
        seq: u64::from_be_bytes(bytes[8..16].try_into().ok()?),
        index: u32::from_be_bytes(bytes[16..20].try_into().ok()?),
    })
}

fn decode_doc(bytes: &[u8]) -> Option<Option<Map<String, Value>>> {
    match bytes.get(HEADER - 1)? {
        0 => Some(None),
        _ => Some(Some(serde_json::from_slice(&bytes[HEADER..]).ok()?)),
    }
}

/// A stored document without the top-level fields named in `skip`, whose values are stepped
/// over by a scan of their bytes, not parsed (a document's vectors are most of its bytes, and
/// most reads do not show them). None if the bytes are damaged; Some(None) for a tombstone.
fn decode_doc_without(bytes: &[u8], skip: &[&str]) -> Option<Option<Map<String, Value>>> {
    match bytes.get(HEADER - 1)? {
        0 => Some(None),
        _ => {
            let mut doc = Map::new();
            for (name, value) in top_level_fields(&bytes[HEADER..])? {
                let name: String = match name.get(1..name.len() - 1) {
                    Some(plain) if !plain.contains(&b'\\') => {
                        String::from_utf8(plain.to_vec()).ok()?
                    }
                    _ => serde_json::from_slice(name).ok()?,
                };
                if !skip.contains(&name.as_str()) {
                    doc.insert(name, serde_json::from_slice(value).ok()?);
                }
            }
            Some(Some(doc))
        }
    }
}

/// The top-level members of a JSON object's text, as (key with its quotes, value) byte ranges;
/// None if the text is not one object. Only the structure is checked: values are for the caller
/// to parse (or not).
fn top_level_fields(text: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let ws = |mut i: usize| {
        while text.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    let mut fields = Vec::new();
    let mut i = ws(0);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(i + 1);
    if text.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if text.get(i) != Some(&b'"') {
                return None;
            }
            let key_end = string_end(text, i)?;
            let colon = ws(key_end);
            if text.get(colon) != Some(&b':') {
                return None;
            }
            let value_start = ws(colon + 1);
            let value_end = value_end(text, value_start)?;
            fields.push((&text[i..key_end], &text[value_start..value_end]));
            i = ws(value_end);
            match text.get(i) {
                Some(b',') => i = ws(i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (ws(i) == text.len()).then_some(fields)
}

/// Where the JSON string starting at `text[start]` (a quote) ends: the index after its closing
/// quote.
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match text.get(i..)?.iter().position(|&b| b == b'"' || b == b'\\') {
            Some(at) if text[i + at] == b'\\' => i += at + 2,
            Some(at) => return Some(i + at + 1),
            None => return None,
        }
    }
}

/// Where the JSON value starting at `text[start]` ends (the index after it): a string, an
/// array or object (brackets counted outside strings), or a number or literal.
fn value_end(text: &[u8], start: usize) -> Option<usize> {
    match text.get(start)? {
        b'"' => string_end(text, start),
        b'[' | b'{' => {
            let (mut depth, mut i) = (0usize, start);
            loop {
                match text.get(i)? {
                    b'"' => {
                        i = string_end(text, i)?;
                        continue;
                    }
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let len = text[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                .unwrap_or(text.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

fn decode(bytes: &[u8]) -> Option<StoredDoc> {
    Some(StoredDoc {
        version: decode_version(bytes)?,
        doc: decode_doc(bytes)?,
    })
}

/// A key's stored state with the document not yet decoded: the applier compares versions first
/// and decodes the document only when it needs it (most writes replace a document unread).
pub struct StoredRaw {
    /// Version of the operation that wrote this state.
    pub version: Version,
    bytes: fjall::Slice,
}

impl StoredRaw {
    /// Decodes the whole state (None if the stored bytes are damaged).
    pub fn decode(&self) -> Option<StoredDoc> {
        decode(&self.bytes)
    }
}

/// The document store of all tables (one fjall keyspace, keys prefixed by table id).
#[derive(Clone)]
pub struct DocStore {
    docs: Keyspace,
}

impl DocStore {
    /// Wraps the keyspace.
    pub fn new(docs: Keyspace) -> DocStore {
        DocStore { docs }
    }

    /// The stored state of `pk`.
    pub fn get(&self, table_id: u64, pk: &str) -> fjall::Result<Option<StoredDoc>> {
        Ok(self.docs.get(key(table_id, pk))?.and_then(|v| decode(&v)))
    }

    /// The stored document of `pk` without its top-level fields named in `skip` (None for an
    /// unknown or deleted key).
    pub fn get_doc_without(
        &self,
        table_id: u64,
        pk: &str,
        skip: &[&str],
    ) -> fjall::Result<Option<Map<String, Value>>> {
        Ok(self
            .docs
            .get(key(table_id, pk))?
            .and_then(|v| decode_doc_without(&v, skip).flatten()))
    }

    /// The stored state of `pk`, its document left encoded.
    pub fn get_raw(&self, table_id: u64, pk: &str) -> fjall::Result<Option<StoredRaw>> {
        Ok(self.docs.get(key(table_id, pk))?.and_then(|bytes| {
            Some(StoredRaw {
                version: decode_version(&bytes)?,
                bytes,
            })
        }))
    }

    /// Writes the state of `pk` (durable with the next journal persist).
    pub fn put(&self, table_id: u64, pk: &str, state: &StoredDoc) -> fjall::Result<()> {
        self.docs.insert(key(table_id, pk), encode(state))
    }

    /// Writes a live document of `pk` given as the JSON text of its object, as [`DocStore::put`]
    /// would write the document that text parses to (the same stored state; the text is not
    /// formatted again). The caller guarantees that `json` is a JSON object.
    pub fn put_json(
        &self,
        table_id: u64,
        pk: &str,
        version: Version,
        json: &str,
    ) -> fjall::Result<()> {
        let mut out = Vec::with_capacity(HEADER + json.len());
        write_header(&mut out, version, true);
        out.extend_from_slice(json.as_bytes());
        self.docs.insert(key(table_id, pk), out)
    }

    /// The primary keys of a table's live (not deleted) documents.
    pub fn live_keys(&self, table_id: u64) -> fjall::Result<Vec<String>> {
        let mut out = Vec::new();
        for kv in self.docs.prefix(table_id.to_be_bytes()) {
            let (k, v) = kv.into_inner()?;
            if decode(&v).is_some_and(|d| d.doc.is_some()) {
                out.push(String::from_utf8_lossy(&k[8..]).into_owned());
            }
        }
        Ok(out)
    }

    /// Calls `f` with the primary key and document of each of a table's live documents, in key
    /// order; stops at the first error.
    pub fn for_each_live<E: From<fjall::Error>>(
        &self,
        table_id: u64,
        mut f: impl FnMut(&str, &Map<String, Value>) -> Result<(), E>,
    ) -> Result<(), E> {
        for kv in self.docs.prefix(table_id.to_be_bytes()) {
            let (k, v) = kv.into_inner()?;
            if let Some(doc) = decode(&v).and_then(|d| d.doc) {
                f(&String::from_utf8_lossy(&k[8..]), &doc)?;
            }
        }
        Ok(())
    }

    /// Removes every key of a table.
    pub fn drop_table(&self, table_id: u64) -> fjall::Result<()> {
        for kv in self.docs.prefix(table_id.to_be_bytes()) {
            self.docs.remove(kv.key()?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_order_by_timestamp_then_sequence_then_position() {
        let v = |timestamp, seq, index| Version {
            timestamp,
            seq,
            index,
        };
        assert!(v(2, 1, 0) > v(1, 9, 9));
        assert!(v(1, 2, 0) > v(1, 1, 9));
        assert!(v(1, 1, 1) > v(1, 1, 0));
    }

    #[test]
    fn encoding_round_trips_documents_and_tombstones() {
        let version = Version {
            timestamp: -5,
            seq: 7,
            index: 3,
        };
        let doc = StoredDoc {
            version,
            doc: Some(json!({"id": "1", "n": [1, 2]}).as_object().unwrap().clone()),
        };
        assert_eq!(decode(&encode(&doc)), Some(doc));
        let tomb = StoredDoc { version, doc: None };
        assert_eq!(decode(&encode(&tomb)), Some(tomb));
    }

    #[test]
    fn documents_read_without_some_fields_keep_the_others_in_order() {
        let version = Version {
            timestamp: 1,
            seq: 2,
            index: 3,
        };
        let doc = json!({"z": 1, "vec": [0.5, 1.5e-3], "a": {"vec": 2}, "b": "x"});
        let state = StoredDoc {
            version,
            doc: Some(doc.as_object().unwrap().clone()),
        };
        let bytes = encode(&state);
        let without = decode_doc_without(&bytes, &["vec", "b"]).unwrap().unwrap();
        assert_eq!(
            Value::Object(without.clone()),
            json!({"z": 1, "a": {"vec": 2}})
        );
        assert_eq!(without.keys().collect::<Vec<_>>(), ["z", "a"]);
        assert_eq!(
            decode_doc_without(&bytes, &[]).unwrap(),
            state.doc,
            "nothing skipped: the whole document"
        );
        let tricky = json!({
            "v": ["]", "\"[{", {"a": [1, {"b": "}"}]}],
            "k\"ey": "x\\\"]}",
            "n": -1.5e-3,
            "t": true,
            "z": null,
            "e": [],
            "o": {}
        });
        let tricky_state = StoredDoc {
            version,
            doc: Some(tricky.as_object().unwrap().clone()),
        };
        let mut bytes_spaced = Vec::new();
        write_header(&mut bytes_spaced, version, true);
        bytes_spaced.extend_from_slice(serde_json::to_string_pretty(&tricky).unwrap().as_bytes());
        for b in [encode(&tricky_state), bytes_spaced] {
            assert_eq!(decode_doc_without(&b, &[]).unwrap(), tricky_state.doc);
            let mut expected = tricky.as_object().unwrap().clone();
            expected.remove("v");
            expected.remove("k\"ey");
            assert_eq!(
                decode_doc_without(&b, &["v", "k\"ey"]).unwrap(),
                Some(expected)
            );
        }
        let tomb = encode(&StoredDoc { version, doc: None });
        assert_eq!(decode_doc_without(&tomb, &["vec"]), Some(None));
        for damaged in [
            &b"{"[..],
            b"{\"a\":[1,2}",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"{\"a\":1} x",
            b"[1]",
        ] {
            let mut b = Vec::new();
            write_header(&mut b, version, true);
            b.extend_from_slice(damaged);
            assert_eq!(
                decode_doc_without(&b, &["a"]),
                None,
                "{}",
                String::from_utf8_lossy(damaged)
            );
        }
        let mut damaged = bytes.clone();
        damaged.truncate(bytes.len() - 1);
        assert_eq!(decode_doc_without(&damaged, &["vec"]), None);
    }

    #[test]
    fn raw_reads_give_the_version_and_decode_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let store = DocStore::new(
            db.keyspace("docs", fjall::KeyspaceCreateOptions::default)
                .unwrap(),
        );
        let state = StoredDoc {
            version: Version {
                timestamp: 9,
                seq: 4,
                index: 1,
            },
            doc: Some(
                json!({"id": "a", "v": [0.5, 1.5]})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        };
        store.put(1, "a", &state).unwrap();
        let raw = store.get_raw(1, "a").unwrap().unwrap();
        assert_eq!(raw.version, state.version);
        assert_eq!(raw.decode(), Some(state.clone()));
        assert!(store.get_raw(2, "a").unwrap().is_none());
        // A document written from its JSON text reads back as the same state, bytes and all.
        let text = r#"{"id": "a", "v": [0.5, 1.5]}"#;
        store.put_json(1, "b", state.version, text).unwrap();
        assert_eq!(store.get(1, "b").unwrap(), Some(state.clone()));
        let compact = serde_json::to_string(state.doc.as_ref().unwrap()).unwrap();
        store.put_json(1, "c", state.version, &compact).unwrap();
        assert_eq!(
            store.docs.get(key(1, "c")).unwrap().unwrap().to_vec(),
            encode(&state)
        );
    }

    #[test]
    fn documents_journaled_with_lz4_recover_when_the_journal_no_longer_compresses() {
        // Engine::open turned journal compression off; data dirs written before hold lz4 entries.
        let dir = tempfile::tempdir().unwrap();
        let big = format!("[{}]", vec!["0.123456789"; 2000].join(","));
        {
            let db = fjall::Database::builder(dir.path())
                .journal_compression(fjall::CompressionType::Lz4)
                .open()
                .unwrap();
            let ks = db
                .keyspace("docs", fjall::KeyspaceCreateOptions::default)
                .unwrap();
            ks.insert("a", big.as_bytes()).unwrap();
            db.persist(fjall::PersistMode::SyncAll).unwrap();
        }
        let db = fjall::Database::builder(dir.path())
            .journal_compression(fjall::CompressionType::None)
            .open()
            .unwrap();
        let ks = db
            .keyspace("docs", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        assert_eq!(&*ks.get("a").unwrap().unwrap(), big.as_bytes());
        ks.insert("b", big.as_bytes()).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
        drop((ks, db));
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let ks = db
            .keyspace("docs", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        assert_eq!(&*ks.get("b").unwrap().unwrap(), big.as_bytes());
    }
}
