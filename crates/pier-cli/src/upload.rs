//! `pier upload`: load a JSONL file of vectors into an AnalyticDB collection as an upload job
//! (what `UpsertCollectionDataAsync` does): stream the file to pier, start the job, follow it
//! to its end with a progress bar.

use crate::client::{Client, Connection};
use anyhow::Context;
use clap::Args;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// The largest file an upload job takes (the server's limit too).
const MAX_FILE_BYTES: u64 = 200 << 20;
/// How often the job is polled.
const POLL: Duration = Duration::from_millis(500);
/// Bytes per chunk of the upload stream.
const CHUNK: usize = 1 << 20;

const EXIT_CODES: &str = "\
Each line of FILE is one row: {\"Id\": \"...\", \"Metadata\": {...}, \"Vector\": [...]}
(Id may be empty: pier assigns one). A bad line fails the whole job before any row is
applied, and the error names the line.

Exit codes:
  0  the job succeeded: every row is applied and searchable (or, with --no-wait, the job started)
  1  the job failed or was cancelled (Ctrl-C cancels it; rows applied before a cancel stay)
  2  usage or connection error: unreadable file, unknown collection, server unreachable";

/// Flags of `pier upload`.
#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES)]
pub struct UploadArgs {
    /// A JSON Lines file of rows, at most 200 MB.
    file: PathBuf,
    /// The collection.
    #[arg(long)]
    collection: String,
    /// The collection's namespace.
    #[arg(long, default_value = "public")]
    namespace: String,
    /// Start the job and print its id without waiting for it.
    #[arg(long)]
    no_wait: bool,
    /// Print the job as JSON at the end, for scripts.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: Connection,
}

/// How `pier upload` ended.
enum Ending {
    Success,
    Unsuccessful,
}

/// Runs `pier upload`; exits 1 when the job did not succeed and 2 on usage or connection
/// errors.
pub async fn run(args: UploadArgs) -> anyhow::Result<()> {
    match upload(args).await {
        Ok(Ending::Success) => Ok(()),
        Ok(Ending::Unsuccessful) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2)
        }
    }
}

async fn upload(args: UploadArgs) -> anyhow::Result<Ending> {
    let client = args.conn.client()?;
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_FILE_BYTES,
        "{} is {} but an upload job takes at most {}: split it into several files",
        args.file.display(),
        HumanBytes(size),
        HumanBytes(MAX_FILE_BYTES)
    );
    // Fail before sending 200 MB if the collection does not exist.
    let app = format!("adb/{}/{}", args.namespace, args.collection);
    client
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}", app.replace('/', "%2F")),
            None,
        )
        .await
        .with_context(|| {
            format!(
                "collection '{}' in namespace '{}'",
                args.collection, args.namespace
            )
        })?;

    let bar = ProgressBar::new(size);
    bar.set_style(ProgressStyle::with_template(
        "sending  {bar:30} {bytes}/{total_bytes} {bytes_per_sec}, eta {eta}",
    )?);
    let uploaded = send_file(&client, &args, &bar).await?;
    bar.finish_and_clear();
    let upload_id = uploaded["id"].as_str().unwrap_or_default().to_string();
    let started = client
        .call(
            Method::POST,
            "/api/v1/upload-jobs",
            Some(&json!({
                "namespace": args.namespace,
                "collection": args.collection,
                "file_url": uploaded["url"],
            })),
        )
        .await;
    let job = match started {
        Ok(job) => job,
        Err(e) => {
            remove_upload(&client, &upload_id).await;
            return Err(e);
        }
    };
    let id = job["id"].as_str().unwrap_or_default().to_string();
    if args.no_wait {
        if args.json {
            crate::print_json(&job);
        } else {
            println!("upload job {id} started; follow it with GET /api/v1/upload-jobs/{id}");
        }
        return Ok(Ending::Success);
    }
    let job = follow(&client, &id).await;
    remove_upload(&client, &upload_id).await;
    let job = job?;
    if args.json {
        crate::print_json(&job);
    }
    let rows = job["rows_done"].as_u64().unwrap_or(0);
    match job["status"].as_str() {
        Some("Success") => {
            if !args.json {
                println!(
                    "upload job {id}: {rows} rows applied to {}/{}",
                    args.namespace, args.collection
                );
            }
            Ok(Ending::Success)
        }
        status => {
            eprintln!(
                "upload job {id} {}: {}; {rows} rows applied",
                status.unwrap_or("ended").to_lowercase(),
                job["error"].as_str().unwrap_or("cancelled")
            );
            Ok(Ending::Unsuccessful)
        }
    }
}

/// Streams the file to `POST /api/v1/uploads`, moving `bar` as bytes go out.
async fn send_file(client: &Client, args: &UploadArgs, bar: &ProgressBar) -> anyhow::Result<Value> {
    let file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let bar = bar.clone();
    let chunks = futures_util::stream::try_unfold(file, move |mut file| {
        let bar = bar.clone();
        async move {
            let mut buf = vec![0; CHUNK];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buf.truncate(n);
            bar.inc(n as u64);
            Ok(Some((buf, file)))
        }
    });
    client
        .send(
            Method::POST,
            "/api/v1/uploads",
            reqwest::Body::wrap_stream(chunks),
        )
        .await
}

/// Polls the job until it ends, showing rows applied; Ctrl-C cancels it (and keeps polling
/// until the cancel has taken effect).
async fn follow(client: &Client, id: &str) -> anyhow::Result<Value> {
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template(
        "{msg:9} {bar:30} {human_pos}/{human_len} rows, {per_sec}, eta {eta}",
    )?);
    let path = format!("/api/v1/upload-jobs/{id}");
    let mut cancelled = false;
    let start = Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let job = client.call(Method::GET, &path, None).await?;
        if let Some(total) = job["rows_total"].as_u64() {
            bar.set_length(total);
        }
        bar.set_position(job["rows_done"].as_u64().unwrap_or(0));
        let status = job["status"].as_str().unwrap_or("?");
        bar.set_message(status.to_string());
        if matches!(status, "Success" | "Failed" | "Cancelled") {
            bar.finish_and_clear();
            if status == "Success" {
                eprintln!("applied and indexed in {:.1?}", start.elapsed());
            }
            return Ok(job);
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = &mut ctrl_c, if !cancelled => {
                cancelled = true;
                bar.println("cancelling the job (rows applied so far stay applied)...");
                client.call(Method::POST, &format!("{path}/cancel"), None).await?;
            }
        }
    }
}

async fn remove_upload(client: &Client, id: &str) {
    if let Err(e) = client
        .call(Method::DELETE, &format!("/api/v1/uploads/{id}"), None)
        .await
    {
        eprintln!("note: could not remove the uploaded copy {id}: {e:#}");
    }
}
