//! `pier`: the server and the tools around it.

mod bench;
mod bench_push_client;
mod bench_search;
mod bench_server;
mod bench_upload;
mod bench_vector;
mod client;
mod config;
mod push;
mod search;
mod serve;
mod sync;
mod table;
mod upload;

use clap::{Parser, Subcommand};
use client::Connection;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc returns freed memory to the OS far better than glibc's per-thread arenas under the
/// server's mix of 2 MB request bodies and index merges (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// pier: a self-hosted search and vector engine speaking the Alibaba Cloud OpenSearch and
/// AnalyticDB APIs.
#[derive(Parser)]
#[command(version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (data under ./pier-data, HTTP on 127.0.0.1:8700 by default).
    Serve(serve::ServeArgs),
    /// Manage access keys (works on the data dir, with or without a running server).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
        /// The data dir holding keys.json.
        #[arg(long, env = "PIER_DATA_DIR", default_value = config::DEFAULT_DATA_DIR, global = true)]
        data_dir: PathBuf,
        /// Print JSON for scripts.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Manage apps on a running server.
    App {
        #[command(subcommand)]
        command: AppCommand,
        #[command(flatten)]
        conn: Connection,
        /// Print JSON for scripts.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Manage Vector Search Edition tables on a running server.
    Table {
        #[command(subcommand)]
        command: table::TableCommand,
        #[command(flatten)]
        conn: Connection,
        /// Print JSON for scripts.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Push a JSON, JSON Lines or CSV file of documents to a table: streamed, batched, retried.
    Push(push::PushArgs),
    /// Read a document back by primary key, as searches see it.
    Doc {
        /// App name.
        app: String,
        /// Table name.
        table: String,
        /// Primary key.
        pk: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// List an app's processing errors, newest first.
    Errors {
        /// App name.
        app: String,
        /// Only this error code.
        #[arg(long)]
        code: Option<u32>,
        /// Only this primary key.
        #[arg(long)]
        pk: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        conn: Connection,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show what processing did with a push, by its request id.
    Request {
        /// The request_id a push returned.
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Keep tables in sync from a MySQL / MariaDB binlog (on a running server).
    Sync {
        #[command(subcommand)]
        command: sync::SyncCommand,
        #[command(flatten)]
        conn: Connection,
        /// Print JSON for scripts.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Load a JSONL file of vectors into an AnalyticDB collection as an upload job, with a
    /// progress bar.
    Upload(upload::UploadArgs),
    /// Search an app with a V3 query string, e.g. `pier search shop "query=default:'phone'&&config=hit:5"`.
    Search(search::SearchArgs),
    /// Benchmarks (results go to stdout as Markdown and JSON).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key pair and print its id and secret.
    Create {
        /// Who or what the key is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List keys (secrets are not shown).
    List,
    /// Revoke a key: it stops authenticating at once.
    Revoke {
        /// The key id.
        id: String,
    },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an app from a schema file in the cloud's schema JSON.
    Create {
        /// App name: 1-30 letters, digits or '_'.
        name: String,
        /// The schema JSON file.
        #[arg(long)]
        schema: PathBuf,
        /// standard or advanced (advanced allows update and timestamps).
        #[arg(long = "type", default_value = "advanced")]
        app_type: String,
        /// Push quota: requests per second (default unlimited).
        #[arg(long)]
        quota_rps: Option<f64>,
        /// Push quota: body bytes per second (default unlimited).
        #[arg(long)]
        quota_bps: Option<f64>,
    },
    /// List apps.
    List,
    /// Show an app: tables, document counts, processing lag, schema.
    Show {
        /// App name.
        name: String,
    },
    /// Delete an app and all its data.
    Delete {
        /// App name.
        name: String,
    },
}

/// An epoch-milliseconds time as UTC RFC 3339, for people.
fn format_ms(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn print_app_line(a: &Value) {
    let docs: u64 = a["tables"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["documents"].as_u64()).sum())
        .unwrap_or(0);
    let tables: Vec<&str> = a["tables"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    println!(
        "{:<30} {:<9} {:>10} docs   tables: {}",
        a["name"].as_str().unwrap_or(""),
        a["type"].as_str().unwrap_or(""),
        docs,
        tables.join(", ")
    );
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Key {
            command,
            data_dir,
            json,
        } => {
            let store = pier_engine::KeyStore::open(&data_dir)?;
            match command {
                KeyCommand::Create { description } => {
                    std::fs::create_dir_all(&data_dir)?;
                    let k = store.create(description)?;
                    if json {
                        print_json(&json!({"id": k.id, "secret": k.secret}));
                    } else {
                        println!(
                            "AccessKeyId:     {}\nAccessKeySecret: {}\n(store the secret now: it is not shown again)",
                            k.id, k.secret
                        );
                    }
                }
                KeyCommand::List => {
                    let keys = store.list();
                    if json {
                        print_json(&json!(keys.iter().map(|k| json!({"id": k.id, "created_at_ms": k.created_at_ms, "revoked": k.revoked, "description": k.description})).collect::<Vec<_>>()));
                    } else {
                        for k in keys {
                            println!(
                                "{}  {}  {}",
                                k.id,
                                if k.revoked { "revoked" } else { "active " },
                                k.description.unwrap_or_default()
                            );
                        }
                    }
                }
                KeyCommand::Revoke { id } => {
                    if !store.revoke(&id)? {
                        anyhow::bail!("no access key '{id}' in {}", data_dir.display());
                    }
                    println!("revoked {id}");
                }
            }
            Ok(())
        }
        Command::App {
            command,
            conn,
            json,
        } => {
            let c = conn.client()?;
            match command {
                AppCommand::Create {
                    name,
                    schema,
                    app_type,
                    quota_rps,
                    quota_bps,
                } => {
                    let text = std::fs::read_to_string(&schema)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", schema.display()))?;
                    let schema: Value = serde_json::from_str(&text).map_err(|e| {
                        anyhow::anyhow!("{} is not valid JSON: {e}", schema.display())
                    })?;
                    let body = json!({"name": name, "type": app_type, "schema": schema,
                        "quota": {"push_requests_per_sec": quota_rps, "push_bytes_per_sec": quota_bps}});
                    let app = c.call(Method::POST, "/api/v1/apps", Some(&body)).await?;
                    if json {
                        print_json(&app)
                    } else {
                        println!("created app '{name}'");
                        print_app_line(&app)
                    }
                }
                AppCommand::List => {
                    let v = c.call(Method::GET, "/api/v1/apps", None).await?;
                    if json {
                        print_json(&v["apps"]);
                    } else {
                        v["apps"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .for_each(print_app_line);
                    }
                }
                AppCommand::Show { name } => {
                    let v = c
                        .call(Method::GET, &format!("/api/v1/apps/{name}"), None)
                        .await?;
                    if json {
                        print_json(&v);
                    } else {
                        print_app_line(&v);
                        for t in v["tables"].as_array().into_iter().flatten() {
                            println!(
                                "  table {:<20} {:>10} docs  lag {} batches  log {} bytes{}",
                                t["name"].as_str().unwrap_or(""),
                                t["documents"],
                                t["lag_batches"],
                                t["log_bytes"],
                                t["failure"]
                                    .as_str()
                                    .map(|f| format!("  FAILING: {f}"))
                                    .unwrap_or_default()
                            );
                        }
                        println!("schema:\n{}", serde_json::to_string_pretty(&v["schema"])?);
                    }
                }
                AppCommand::Delete { name } => {
                    c.call(Method::DELETE, &format!("/api/v1/apps/{name}"), None)
                        .await?;
                    println!("deleted app '{name}'");
                }
            }
            Ok(())
        }
        Command::Doc {
            app,
            table,
            pk,
            conn,
        } => {
            let v = conn
                .client()?
                .call(
                    Method::GET,
                    &format!("/api/v1/apps/{app}/{table}/docs/{pk}"),
                    None,
                )
                .await?;
            print_json(&v["fields"]);
            Ok(())
        }
        Command::Errors {
            app,
            code,
            pk,
            limit,
            conn,
            json,
        } => {
            let mut path = format!("/api/v1/apps/{app}/errors?limit={limit}");
            if let Some(c) = code {
                path.push_str(&format!("&code={c}"));
            }
            if let Some(p) = pk {
                path.push_str(&format!("&pk={p}"));
            }
            let v = conn.client()?.call(Method::GET, &path, None).await?;
            if json {
                print_json(&v);
            } else {
                println!("{} errors", v["total"]);
                for e in v["errors"].as_array().into_iter().flatten() {
                    println!(
                        "{} {} pk={} request={} {}: {}",
                        format_ms(e["time_ms"].as_u64().unwrap_or(0)),
                        e["table"].as_str().unwrap_or(""),
                        e["pk"].as_str().unwrap_or(""),
                        e["request_id"].as_str().unwrap_or(""),
                        e["code"],
                        e["message"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        Command::Request { id, conn } => {
            print_json(
                &conn
                    .client()?
                    .call(Method::GET, &format!("/api/v1/requests/{id}"), None)
                    .await?,
            );
            Ok(())
        }
        Command::Push(args) => push::run(args).await,
        Command::Search(args) => search::run(args).await,
        Command::Upload(args) => upload::run(args).await,
        Command::Sync {
            command,
            conn,
            json,
        } => sync::run(command, conn, json).await,
        Command::Bench { command } => bench::run(command).await,
        Command::Table {
            command,
            conn,
            json,
        } => table::run(command, conn, json).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
