//! `pier push`: stream a file of documents (JSON array, JSON Lines or CSV) to a V3 app's table
//! or to a Vector Search Edition table, in batches under the push limits, with bounded
//! concurrency; retry exactly what is retryable, refuse locally what the server would refuse,
//! and report what processing did with each document.

use crate::client::{Client, Connection, PushFailure};
use anyhow::{Context, bail};
use clap::{ArgGroup, Args, ValueEnum};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use pier_model::{AppType, Cmd, Schema, TableSchema};
use pier_vse::{Validation, VectorTableSchema};
use reqwest::Method;
use serde::de::{Error as _, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Leave room under the 2 MB body limit for the array brackets and commas.
const BATCH_BYTES: usize = 2 * 1024 * 1024 - 4096;
const BATCH_DOCS: usize = 1000;
const MAX_ATTEMPTS: u32 = 10;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const PUSH_TIMEOUT: Duration = Duration::from_secs(120);
/// How many failures are printed; all go to `--failures`.
const SHOWN_FAILURES: u64 = 20;

const EXIT_CODES: &str = "\
Exit codes:
  0  every document was accepted (with --wait: and processed without error);
     with --dry-run: every document is valid
  1  some documents failed: invalid (not sent), refused by the server (e.g. 4007, 3005, 3006,
     3009, 3015, 2001, 4012, 3012, 403), or failed processing (7xxx, reported with --wait;
     V3 only)
  2  usage or connection error: bad flags, unreadable or malformed file, server unreachable

Retried (exponential backoff with jitter, honouring Retry-After): connection errors and
timeouts, HTTP 429, 5xx with codes 1000/1004, 3007, 3013/3014 (batches are halved after 3013).
With --concurrency above 1 batches may arrive out of order: if the file changes the same key
more than once, use --concurrency 1 (or per-document timestamps on an advanced app).

Vector Search Edition (--vse-table): batches go to POST /update/{instance}_{table}/actions/bulk
with Basic auth (access key id and secret) and X-Opensearch-Swift-PK-Field; every document is
checked locally against the table's schema first (it must carry the primary key; vectors must
have the index's dimension), as the server checks a strict push.";

/// The file format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// By extension (.csv, .jsonl/.ndjson), else by the first character (`[`: JSON array).
    Auto,
    /// A JSON array of documents.
    Json,
    /// One JSON document per line.
    Jsonl,
    /// A header row of field names, then one document per row (values sent as strings; empty
    /// cells are left out, i.e. blank).
    Csv,
}

/// Flags of `pier push`.
#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES)]
#[command(group(ArgGroup::new("target").required(true).args(["app", "vse_table"])))]
pub struct PushArgs {
    /// A JSON array, JSON Lines or CSV file, read as a stream (any size). Each JSON element is
    /// either a push command (`{"cmd": ..., "fields": {...}}`) or a plain document, pushed as
    /// `add`.
    file: PathBuf,
    /// The V3 app (with --table).
    #[arg(long, requires = "table")]
    app: Option<String>,
    /// The app's table (with --app).
    #[arg(long, requires = "app")]
    table: Option<String>,
    /// Push to this Vector Search Edition table instead of a V3 app: `{instance}_{table}` as
    /// the SDKs name it (e.g. ha-cn-abc123_docs), or the bare table name.
    #[arg(long, value_name = "[INSTANCE_]TABLE", conflicts_with_all = ["app", "table"])]
    vse_table: Option<String>,
    /// With --vse-table: the primary key field, sent as X-Opensearch-Swift-PK-Field (default:
    /// the table's primary key; anything else is refused).
    #[arg(long, requires = "vse_table", conflicts_with = "app")]
    pk_field: Option<String>,
    /// The file format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Wait until pier has processed every batch, then report documents that failed processing.
    /// With --vse-table: wait until the table has applied everything it received (its lag is 0)
    /// and report an applier failure; there is no per-document report (documents are validated
    /// before the push is accepted).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits for processing, in seconds.
    #[arg(long, default_value_t = 600)]
    wait_timeout_secs: u64,
    /// Write every failure (invalid, refused or failed document) to this file as JSON Lines:
    /// `{"pk", "code", "message", "stage", "at", "request_id"}`.
    #[arg(long)]
    failures: Option<PathBuf>,
    /// Check every document against the table's schema (the errors the server would report)
    /// without sending anything.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    conn: Connection,
}

/// Turns a file element into a push command.
fn command(v: Value) -> Value {
    if v.get("cmd").is_some() && v.get("fields").is_some() {
        v
    } else {
        json!({"cmd": "add", "fields": v})
    }
}

/// A usage or connection error: exit code 2.
#[derive(Debug)]
struct Fatal(String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

fn fatal(msg: impl Into<String>) -> anyhow::Error {
    Fatal(msg.into()).into()
}

/// Where failures go: counted, the first few printed, all written to `--failures`.
struct Failures {
    count: u64,
    connection: bool,
    file: Option<BufWriter<std::fs::File>>,
    bar: ProgressBar,
}

impl Failures {
    /// Prints above the progress bar, or to stderr when there is none (not a terminal).
    fn say(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        stage: &str,
        pk: Option<&str>,
        code: Option<u64>,
        message: &str,
        at: Option<&str>,
        request_id: Option<&str>,
    ) -> anyhow::Result<()> {
        self.count += 1;
        if self.count <= SHOWN_FAILURES {
            let code_s = code.map(|c| format!(" [{c}]")).unwrap_or_default();
            let at_s = at.map(|a| format!(" ({a})")).unwrap_or_default();
            self.say(&format!(
                "{stage}: pk={}{at_s}{code_s}: {message}",
                pk.unwrap_or("?")
            ));
        } else if self.count == SHOWN_FAILURES + 1 && self.file.is_none() {
            self.say("more failures follow; pass --failures FILE to see them all");
        }
        if let Some(f) = &mut self.file {
            let line = json!({"pk": pk, "code": code, "message": message, "stage": stage, "at": at, "request_id": request_id});
            serde_json::to_writer(&mut *f, &line)?;
            f.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// Counts the bytes read from the file on the progress bar.
struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// One element read from the file: a document, or why it is not one; and where it is.
type Element = (Result<Value, String>, String);

fn detect(path: &Path, reader: &mut impl BufRead, format: Format) -> anyhow::Result<Format> {
    if format != Format::Auto {
        return Ok(format);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(match ext.as_str() {
        "csv" => Format::Csv,
        "jsonl" | "ndjson" => Format::Jsonl,
        _ => loop {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                break Format::Jsonl;
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    break if buf[i] == b'[' {
                        Format::Json
                    } else {
                        Format::Jsonl
                    };
                }
                None => {
                    let n = buf.len();
                    reader.consume(n);
                }
            }
        },
    })
}

/// Calls `f` on each element of a JSON array as it is read, never holding the whole array.
struct EachElement<'a> {
    f: &'a mut dyn FnMut(Element) -> anyhow::Result<bool>,
    stopped: Option<anyhow::Error>,
}

impl<'de> Visitor<'de> for &mut EachElement<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of documents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0u64;
        while let Some(v) = seq.next_element::<Value>()? {
            n += 1;
            match (self.f)((Ok(v), format!("element {n}"))) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(A::Error::custom("stopped"));
                }
                Err(e) => {
                    self.stopped = Some(e);
                    return Err(A::Error::custom("stopped"));
                }
            }
        }
        Ok(())
    }
}

/// Reads one CSV record (RFC 4180: quoted fields may hold commas, quotes and newlines).
fn csv_record(
    reader: &mut impl BufRead,
    line: &mut String,
) -> std::io::Result<Option<Vec<String>>> {
    line.clear();
    if reader.read_line(line)? == 0 {
        return Ok(None);
    }
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut pos = 0;
    loop {
        let rest = &line[pos..];
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        cur.push('"');
                        chars.next();
                    } else {
                        quoted = false;
                    }
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    '"' if cur.is_empty() => quoted = true,
                    ',' => fields.push(std::mem::take(&mut cur)),
                    '\r' | '\n' => break,
                    c => cur.push(c),
                }
            }
        }
        if !quoted {
            fields.push(cur);
            return Ok(Some(fields));
        }
        // A quoted field continues on the next line.
        pos = line.len();
        if reader.read_line(line)? == 0 {
            fields.push(cur);
            return Ok(Some(fields));
        }
    }
}

/// Reads the file's elements one by one, calling `f` until it returns false.
fn read_elements(
    path: &Path,
    format: Format,
    bar: &ProgressBar,
    f: &mut dyn FnMut(Element) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path)
        .map_err(|e| fatal(format!("cannot open {}: {e}", path.display())))?;
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: file,
            bar: bar.clone(),
        },
    );
    match detect(path, &mut reader, format)? {
        Format::Json => {
            let mut each = EachElement { f, stopped: None };
            let mut de = serde_json::Deserializer::from_reader(reader);
            let r =
                serde::Deserializer::deserialize_seq(&mut de, &mut each).and_then(|()| de.end());
            if let Some(e) = each.stopped {
                return Err(e);
            }
            if let Err(e) = r
                && !e.to_string().starts_with("stopped")
            {
                return Err(fatal(format!(
                    "{} is not a valid JSON array: {e}",
                    path.display()
                )));
            }
        }
        Format::Jsonl | Format::Auto => {
            let mut line = String::new();
            let mut n = 0u64;
            loop {
                line.clear();
                if reader
                    .read_line(&mut line)
                    .map_err(|e| fatal(format!("reading {}: {e}", path.display())))?
                    == 0
                {
                    break;
                }
                n += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let v = serde_json::from_str::<Value>(&line)
                    .map_err(|e| format!("not valid JSON: {e}"));
                if !f((v, format!("line {n}")))? {
                    break;
                }
            }
        }
        Format::Csv => {
            let mut line = String::new();
            let read = |r: &mut BufReader<_>, l: &mut String| {
                csv_record(r, l).map_err(|e| fatal(format!("reading {}: {e}", path.display())))
            };
            let Some(header) = read(&mut reader, &mut line)? else {
                return Ok(());
            };
            let header: Vec<String> = header
                .into_iter()
                .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
                .collect();
            let mut n = 1u64;
            while let Some(rec) = read(&mut reader, &mut line)? {
                let at = format!("line {}", n + 1);
                n += line.matches('\n').count().max(1) as u64;
                if rec.len() == 1 && rec[0].trim().is_empty() {
                    continue;
                }
                let v = if rec.len() != header.len() {
                    Err(format!(
                        "has {} values; the header has {} columns",
                        rec.len(),
                        header.len()
                    ))
                } else {
                    let mut m = Map::new();
                    for (h, v) in header.iter().zip(rec) {
                        if !v.is_empty() {
                            m.insert(h.clone(), Value::String(v));
                        }
                    }
                    Ok(Value::Object(m))
                };
                if !f((v, at))? {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// A document ready to send, with what identifies it in reports.
struct Doc {
    json: Vec<u8>,
    pk: String,
    at: String,
}

/// Documents packed under the push limits.
#[derive(Default)]
struct Batch {
    docs: Vec<Doc>,
    bytes: usize,
}

impl Batch {
    fn body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.bytes + self.docs.len() + 2);
        body.push(b'[');
        for (i, d) in self.docs.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&d.json);
        }
        body.push(b']');
        body
    }
}

/// Where documents go, and what the table accepts.
enum Target {
    /// A table of an OpenSearch V3 app.
    V3 {
        app: String,
        table: TableSchema,
        app_type: AppType,
    },
    /// A Vector Search Edition table.
    Vse {
        /// The bulk path segment: `{instance}_{table}` or the bare table name.
        segment: String,
        schema: Box<VectorTableSchema>,
        /// The primary key field, as the schema spells it.
        pk_field: String,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::V3 { app, table, .. } => write!(f, "{app}/{}", table.name),
            Target::Vse { schema, .. } => write!(f, "vector table {}", schema.name),
        }
    }
}

/// Why a document would be refused or fail: (code, message).
type Invalid = (u64, String);

/// A Vector Search Edition error about "document #0" of a one-document body, reworded for a
/// report that already says which line of the file it is.
fn single_doc_message(message: String) -> String {
    if let Some(rest) = message.strip_prefix("document #0: ") {
        rest.to_string()
    } else if let Some(rest) = message.strip_prefix("document #0") {
        format!("the document{rest}")
    } else {
        message
    }
}

impl Target {
    /// Checks one command as the server would: always the checks that refuse a whole batch,
    /// and for a V3 table with `full` also the per-document processing checks (7xxx). Returns
    /// the command's JSON and its primary key.
    fn check(&self, cmd: &Value, full: bool) -> Result<(Vec<u8>, String), Invalid> {
        let json = serde_json::to_vec(cmd).map_err(|e| (4007, e.to_string()))?;
        let mut body = Vec::with_capacity(json.len() + 2);
        body.push(b'[');
        body.extend_from_slice(&json);
        body.push(b']');
        let pk = match self {
            Target::V3 {
                table, app_type, ..
            } => {
                let ops = pier_model::parse_push_body(&body, table, *app_type)
                    .map_err(|e| (u64::from(e.code.0), e.message))?;
                let op = ops.into_iter().next().ok_or((3001, "empty".to_string()))?;
                if full && op.cmd != Cmd::Delete {
                    pier_model::normalize_fields(&op.fields, table)
                        .map_err(|e| (u64::from(e.code.0), e.message))?;
                }
                op.pk
            }
            Target::Vse {
                schema, pk_field, ..
            } => {
                let ops = pier_vse::parse_push(
                    &body,
                    schema,
                    Some(pk_field.as_str()),
                    Validation::Strict,
                )
                .map_err(|e| (u64::from(e.code.0), single_doc_message(e.message)))?;
                ops.into_iter()
                    .next()
                    .ok_or((3001, "empty".to_string()))?
                    .pk
            }
        };
        Ok((json, pk))
    }

    /// The primary key of a command that failed checking, when one can be seen.
    fn guess_pk(&self, cmd: &Value) -> Option<String> {
        let name = match self {
            Target::V3 { table, .. } => &table.primary_key().name,
            Target::Vse { pk_field, .. } => pk_field,
        };
        let fields = cmd.get("fields")?.as_object()?;
        let v = fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?.1;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Sends one batch.
    async fn push(&self, client: &Client, body: Vec<u8>) -> Result<Value, PushFailure> {
        match self {
            Target::V3 { app, table, .. } => client.push(app, &table.name, body, false).await,
            Target::Vse {
                segment, pk_field, ..
            } => client.push_vse(segment, pk_field, body).await,
        }
    }
}

/// Shared state of a push.
struct Ctx {
    client: Client,
    target: Arc<Target>,
    /// Largest batch in documents (halved after "rate exceeds quota").
    cap: AtomicUsize,
    docs_sent: AtomicU64,
    bytes_sent: AtomicU64,
    retries: AtomicU64,
    started: Instant,
    failures: Mutex<Failures>,
    /// Request ids of accepted batches.
    requests: Mutex<Vec<String>>,
    bar: ProgressBar,
}

impl Ctx {
    fn show(&self) {
        let docs = self.docs_sent.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{docs} docs, {} sent, {:.0} docs/s, {} retries, {} failed",
            HumanBytes(self.bytes_sent.load(Ordering::Relaxed)),
            docs as f64 / secs,
            self.retries.load(Ordering::Relaxed),
            self.failures.lock().unwrap().count
        ));
    }
}

/// Whether a refused push can succeed when sent again.
fn retryable(e: &PushFailure) -> bool {
    match e.code {
        Some(1000 | 1004 | 3007 | 3013 | 3014) => true,
        Some(_) => false,
        None => e.status == 0 || e.status == 429 || e.status >= 500,
    }
}

enum Sent {
    Ok(String),
    Halve,
    Failed(PushFailure),
}

fn jitter(max: Duration) -> Duration {
    Duration::from_millis(rand::random::<u64>() % (max.as_millis() as u64).max(1))
}

async fn send(ctx: &Ctx, batch: &Batch) -> Sent {
    let body = batch.body();
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = tokio::time::timeout(PUSH_TIMEOUT, ctx.target.push(&ctx.client, body.clone()))
            .await
            .unwrap_or_else(|_| {
                Err(PushFailure {
                    status: 0,
                    code: None,
                    message: format!("no answer within {} s", PUSH_TIMEOUT.as_secs()),
                    retry_after: None,
                })
            });
        let e = match r {
            Ok(v) => return Sent::Ok(v["request_id"].as_str().unwrap_or_default().to_string()),
            Err(e) if !retryable(&e) || attempt >= MAX_ATTEMPTS => return Sent::Failed(e),
            Err(e) => e,
        };
        ctx.retries.fetch_add(1, Ordering::Relaxed);
        ctx.show();
        let wait = match e.retry_after {
            Some(d) => d.min(Duration::from_secs(60)) + jitter(Duration::from_millis(100)),
            // Exponential backoff with jitter: between half the delay and the delay.
            None => delay / 2 + jitter(delay / 2),
        };
        delay = (delay * 2).min(MAX_BACKOFF);
        tokio::time::sleep(wait).await;
        if e.code == Some(3013) && batch.docs.len() > 1 {
            let half = batch.docs.len() / 2;
            ctx.cap.fetch_min(half.max(1), Ordering::Relaxed);
            return Sent::Halve;
        }
    }
}

/// Delivers a batch (halving it on "rate exceeds quota"), recording the outcome.
async fn deliver(ctx: &Ctx, batch: Batch) -> anyhow::Result<()> {
    let mut todo = vec![batch];
    while let Some(mut b) = todo.pop() {
        match send(ctx, &b).await {
            Sent::Ok(id) => {
                ctx.docs_sent
                    .fetch_add(b.docs.len() as u64, Ordering::Relaxed);
                ctx.bytes_sent.fetch_add(b.bytes as u64, Ordering::Relaxed);
                ctx.requests.lock().unwrap().push(id);
            }
            Sent::Halve => {
                let second = b.docs.split_off(b.docs.len() / 2);
                let second = Batch {
                    bytes: second.iter().map(|d| d.json.len()).sum(),
                    docs: second,
                };
                b.bytes -= second.bytes;
                todo.push(second);
                todo.push(b);
            }
            Sent::Failed(e) => {
                let mut f = ctx.failures.lock().unwrap();
                f.connection |= e.status == 0;
                for d in &b.docs {
                    f.record(
                        "refused",
                        Some(d.pk.as_str()),
                        e.code,
                        &e.to_string(),
                        Some(d.at.as_str()),
                        None,
                    )?;
                }
            }
        }
        ctx.show();
    }
    Ok(())
}

/// Reads a native API resource; a server that cannot be reached is a connection error.
async fn get(client: &Client, path: &str) -> anyhow::Result<Value> {
    client.call(Method::GET, path, None).await.map_err(|e| {
        if format!("{e:#}").contains("cannot reach") {
            fatal(format!("{e:#}"))
        } else {
            e
        }
    })
}

/// Fetches the schema of the table the flags name.
async fn target(client: &Client, args: &PushArgs) -> anyhow::Result<Target> {
    if let Some(segment) = &args.vse_table {
        return vse_target(client, segment, args.pk_field.as_deref()).await;
    }
    let (Some(app), Some(table)) = (&args.app, &args.table) else {
        return Err(fatal("pass --app and --table, or --vse-table"));
    };
    let info = get(client, &format!("/api/v1/apps/{app}"))
        .await
        .with_context(|| format!("cannot read app '{app}'"))?;
    let schema = Schema::from_json(&info["schema"]).context("the app's schema")?;
    let app_type: AppType =
        serde_json::from_value(info["type"].clone()).context("the app's type")?;
    let Some(table) = schema.tables.into_iter().find(|t| &t.name == table) else {
        bail!("[4012] app '{app}' has no table '{table}'");
    };
    Ok(Target::V3 {
        app: app.clone(),
        table,
        app_type,
    })
}

/// Finds the Vector Search Edition table of a bulk path segment as the server does (the part
/// after the instance id, else the whole segment) and checks `--pk-field` against its key.
async fn vse_target(
    client: &Client,
    segment: &str,
    pk_field: Option<&str>,
) -> anyhow::Result<Target> {
    let names = pier_vse::push::split_instance_table(segment)
        .map(|(_, t)| t)
        .into_iter()
        .chain([segment]);
    let mut info = None;
    for name in names {
        match get(client, &format!("/api/v1/vector-tables/{name}")).await {
            Ok(i) => {
                info = Some(i);
                break;
            }
            Err(e) if e.to_string().starts_with("404") => {}
            Err(e) => return Err(e.context(format!("cannot read vector table '{name}'"))),
        }
    }
    let Some(info) = info else {
        bail!("[3012] no vector table '{segment}' (nor the table after its instance id prefix)");
    };
    let schema = VectorTableSchema::from_json(&info["schema"])
        .map_err(|e| anyhow::anyhow!("the table's schema: {}", e.0))?;
    let pk_field = match pk_field {
        Some(f) if !f.eq_ignore_ascii_case(&schema.primary_key) => {
            return Err(fatal(format!(
                "--pk-field '{f}' is not the primary key of table '{}' ('{}')",
                schema.name, schema.primary_key
            )));
        }
        _ => schema.primary_key.clone(),
    };
    Ok(Target::Vse {
        segment: segment.to_string(),
        schema: Box::new(schema),
        pk_field,
    })
}

/// Waits until a vector table has applied every batch it received; returns the applier's
/// failure, if it reports one.
async fn wait_applied(
    client: &Client,
    table: &str,
    deadline: Instant,
    timeout_secs: u64,
) -> anyhow::Result<Option<String>> {
    let mut pause = Duration::from_millis(20);
    loop {
        let info = get(client, &format!("/api/v1/vector-tables/{table}"))
            .await
            .map_err(|e| fatal(format!("{e:#}")))?;
        let t = &info["table"];
        if let Some(f) = t["failure"].as_str() {
            return Ok(Some(f.to_string()));
        }
        if t["lag_batches"].as_u64() == Some(0) {
            return Ok(None);
        }
        if Instant::now() > deadline {
            return Err(fatal(format!(
                "vector table {table} did not apply everything within {timeout_secs} s (--wait-timeout-secs)"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Runs `pier push`; exits with 1 when documents failed and 2 on usage or connection errors.
pub async fn run(args: PushArgs) -> anyhow::Result<()> {
    let code = match run_push(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<Fatal>().is_some() {
                2
            } else {
                1
            }
        }
    };
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

async fn run_push(args: PushArgs) -> anyhow::Result<i32> {
    let client = args.conn.client().map_err(|e| fatal(format!("{e:#}")))?;
    let target = Arc::new(target(&client, &args).await?);
    let file_len = std::fs::metadata(&args.file)
        .map_err(|e| fatal(format!("cannot open {}: {e}", args.file.display())))?
        .len();
    let bar = ProgressBar::new(file_len);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} read, eta {eta}  {msg}",
    )?);
    let file = match &args.failures {
        Some(p) => {
            Some(BufWriter::new(std::fs::File::create(p).map_err(|e| {
                fatal(format!("cannot create {}: {e}", p.display()))
            })?))
        }
        None => None,
    };
    let ctx = Arc::new(Ctx {
        client,
        target: target.clone(),
        cap: AtomicUsize::new(BATCH_DOCS),
        docs_sent: AtomicU64::new(0),
        bytes_sent: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        started: Instant::now(),
        failures: Mutex::new(Failures {
            count: 0,
            connection: false,
            file,
            bar: bar.clone(),
        }),
        requests: Mutex::new(Vec::new()),
        bar: bar.clone(),
    });

    // The reader thread packs batches; a bounded channel keeps memory to a few batches.
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(usize::from(args.concurrency));
    let dry_run = args.dry_run;
    let reader = {
        let ctx = ctx.clone();
        let target = target.clone();
        let path = args.file.clone();
        let format = args.format;
        let bar = bar.clone();
        std::thread::spawn(move || -> anyhow::Result<u64> {
            let mut batch = Batch::default();
            let mut read = 0u64;
            let mut f = |(v, at): Element| -> anyhow::Result<bool> {
                read += 1;
                let cmd = match v {
                    Ok(v) => command(v),
                    Err(msg) => {
                        ctx.failures.lock().unwrap().record(
                            "invalid",
                            None,
                            Some(4007),
                            &msg,
                            Some(at.as_str()),
                            None,
                        )?;
                        return Ok(true);
                    }
                };
                let (json, pk) = match target.check(&cmd, dry_run) {
                    Ok(ok) => ok,
                    Err((code, msg)) => {
                        ctx.failures.lock().unwrap().record(
                            "invalid",
                            target.guess_pk(&cmd).as_deref(),
                            Some(code),
                            &msg,
                            Some(at.as_str()),
                            None,
                        )?;
                        return Ok(true);
                    }
                };
                if dry_run {
                    return Ok(true);
                }
                let cap = ctx.cap.load(Ordering::Relaxed).min(BATCH_DOCS);
                if !batch.docs.is_empty()
                    && (batch.docs.len() >= cap
                        || batch.bytes + batch.docs.len() + json.len() + 2 > BATCH_BYTES)
                    && tx.blocking_send(std::mem::take(&mut batch)).is_err()
                {
                    return Ok(false);
                }
                batch.bytes += json.len();
                batch.docs.push(Doc { json, pk, at });
                Ok(true)
            };
            read_elements(&path, format, &bar, &mut f)?;
            if !batch.docs.is_empty() {
                let _ = tx.blocking_send(batch);
            }
            Ok(read)
        })
    };

    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let ctx = ctx.clone();
            let rx = rx.clone();
            tokio::spawn(async move {
                loop {
                    let Some(batch) = rx.lock().await.recv().await else {
                        return anyhow::Ok(());
                    };
                    deliver(&ctx, batch).await?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let read = tokio::task::spawn_blocking(move || reader.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;
    bar.finish_and_clear();

    let sent = ctx.docs_sent.load(Ordering::Relaxed);
    let batches = ctx.requests.lock().unwrap().len();
    let before_wait = ctx.failures.lock().unwrap().count;
    if dry_run {
        println!(
            "checked {read} documents against {target}: {} valid, {before_wait} invalid (nothing was sent)",
            read - before_wait
        );
    } else {
        println!(
            "pushed {sent} documents in {batches} batches to {target} ({} retries); {before_wait} not accepted",
            ctx.retries.load(Ordering::Relaxed),
        );
    }
    let mut processed_failed = 0u64;
    let mut applier_failed = false;
    let deadline = Instant::now() + Duration::from_secs(args.wait_timeout_secs);
    if let (true, false, Target::Vse { schema, .. }) = (args.wait, dry_run, &*target) {
        match wait_applied(&ctx.client, &schema.name, deadline, args.wait_timeout_secs).await? {
            None => println!("processed: every batch applied"),
            Some(failure) => {
                eprintln!("processing failed: {failure}");
                applier_failed = true;
            }
        }
    } else if args.wait && !dry_run {
        let ids = std::mem::take(&mut *ctx.requests.lock().unwrap());
        let mut processed = 0u64;
        for id in &ids {
            let mut pause = Duration::from_millis(20);
            let r = loop {
                let r = ctx
                    .client
                    .call(Method::GET, &format!("/api/v1/requests/{id}"), None)
                    .await
                    .map_err(|e| fatal(format!("{e:#}")))?;
                if r["status"] == "processed" {
                    break r;
                }
                if Instant::now() > deadline {
                    return Err(fatal(format!(
                        "request {id} was not processed within {} s (--wait-timeout-secs)",
                        args.wait_timeout_secs
                    )));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            };
            processed += r["documents"].as_u64().unwrap_or(0);
            let mut f = ctx.failures.lock().unwrap();
            for d in r["failed"].as_array().into_iter().flatten() {
                processed_failed += 1;
                f.record(
                    "processing",
                    d["pk"].as_str(),
                    d["code"].as_u64(),
                    d["message"].as_str().unwrap_or(""),
                    None,
                    Some(id.as_str()),
                )?;
            }
        }
        println!(
            "processed: {} ok, {processed_failed} failed",
            processed - processed_failed
        );
    } else if !dry_run && sent > 0 {
        match &*target {
            Target::V3 { app, .. } => println!(
                "(received; processing is asynchronous: --wait, `pier request ID` or `pier errors {app}` show the outcome)"
            ),
            Target::Vse { schema, .. } => println!(
                "(received; processing is asynchronous: --wait or `pier table show {}` show the progress)",
                schema.name
            ),
        }
    }
    let mut guard = ctx.failures.lock().unwrap();
    let f = &mut *guard;
    if let Some(w) = &mut f.file {
        w.flush()?;
    }
    if f.count > 0 {
        eprintln!(
            "{} documents failed{}",
            f.count,
            args.failures
                .as_ref()
                .map(|p| format!(" (all listed in {})", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(if f.connection {
        2
    } else if f.count > 0 || applier_failed {
        1
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_handle_quotes_and_newlines() {
        let data = "id,text\n1,\"a, \"\"b\"\"\nc\"\n2,plain\r\n";
        let mut r = std::io::Cursor::new(data);
        let mut line = String::new();
        let mut out = Vec::new();
        while let Some(rec) = csv_record(&mut r, &mut line).unwrap() {
            out.push(rec);
        }
        assert_eq!(
            out,
            vec![
                vec!["id".to_string(), "text".to_string()],
                vec!["1".to_string(), "a, \"b\"\nc".to_string()],
                vec!["2".to_string(), "plain".to_string()],
            ]
        );
    }

    #[test]
    fn retryable_codes() {
        let f = |status, code| PushFailure {
            status,
            code,
            message: String::new(),
            retry_after: None,
        };
        assert!(retryable(&f(0, None)));
        assert!(retryable(&f(429, Some(3007))));
        assert!(retryable(&f(429, Some(3013))));
        assert!(retryable(&f(503, Some(1000))));
        assert!(retryable(&f(502, None)));
        for code in [4007, 3005, 3006, 3009, 3015, 2001, 4012, 4001] {
            assert!(!retryable(&f(400, Some(code))));
        }
    }

    #[test]
    fn json_array_is_streamed_element_by_element() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("docs.json");
        std::fs::write(
            &p,
            r#" [ {"id": 1}, {"cmd": "delete", "fields": {"id": 2}} ] "#,
        )
        .unwrap();
        let mut got = Vec::new();
        read_elements(&p, Format::Auto, &ProgressBar::hidden(), &mut |(v, at)| {
            got.push((command(v.unwrap()), at));
            Ok(true)
        })
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, json!({"cmd": "add", "fields": {"id": 1}}));
        assert_eq!(got[1].1, "element 2");
    }
}
