//! `pier sync add|list|show|pause|resume|remove`: tables kept in sync from a MySQL / MariaDB
//! binlog, managed on a running server.

use crate::client::Connection;
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The `pier sync` subcommands.
#[derive(Subcommand)]
pub enum SyncCommand {
    /// Add a source: snapshot the MySQL/MariaDB table into APP/TABLE, then follow its binlog.
    Add {
        /// A name for the source (letters, digits, _).
        name: String,
        /// Target app.
        #[arg(long)]
        app: String,
        /// Target table of the app.
        #[arg(long)]
        table: String,
        /// TOML file describing the source: host, port, user, password, database, table,
        /// server_id, and optionally [fields] (column = "field") and filter.
        #[arg(long)]
        source: PathBuf,
        /// Read the password from this environment variable instead of the file.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// List sources with their state and lag.
    List,
    /// Show one source: state, rows applied, lag, position, last error.
    Show {
        /// Source name.
        name: String,
    },
    /// Pause a source (its position is kept).
    Pause {
        /// Source name.
        name: String,
    },
    /// Resume a paused source from its position.
    Resume {
        /// Source name.
        name: String,
    },
    /// Remove a source (documents stay; adding it again takes a new snapshot).
    Remove {
        /// Source name.
        name: String,
    },
}

/// Runs a `pier sync` subcommand.
pub async fn run(command: SyncCommand, conn: Connection, json_out: bool) -> anyhow::Result<()> {
    let client = conn.client()?;
    let v = match command {
        SyncCommand::Add {
            name,
            app,
            table,
            source,
            password_env,
        } => {
            let text = std::fs::read_to_string(&source)
                .with_context(|| format!("reading {}", source.display()))?;
            let mut source_config: Value = toml::from_str::<toml::Value>(&text)
                .with_context(|| format!("{} is not valid TOML", source.display()))
                .and_then(|t| Ok(serde_json::to_value(t)?))?;
            if let Some(var) = password_env {
                let password = std::env::var(&var)
                    .with_context(|| format!("environment variable {var} is not set"))?;
                source_config["password"] = Value::String(password);
            }
            let body = json!({"name": name, "app": app, "table": table, "source": source_config});
            client
                .call(Method::POST, "/api/v1/syncs", Some(&body))
                .await?
        }
        SyncCommand::List => client.call(Method::GET, "/api/v1/syncs", None).await?,
        SyncCommand::Show { name } => {
            client
                .call(Method::GET, &format!("/api/v1/syncs/{name}"), None)
                .await?
        }
        SyncCommand::Pause { name } => {
            client
                .call(Method::POST, &format!("/api/v1/syncs/{name}/pause"), None)
                .await?
        }
        SyncCommand::Resume { name } => {
            client
                .call(Method::POST, &format!("/api/v1/syncs/{name}/resume"), None)
                .await?
        }
        SyncCommand::Remove { name } => {
            client
                .call(Method::DELETE, &format!("/api/v1/syncs/{name}"), None)
                .await?;
            println!("removed {name}");
            return Ok(());
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if let Some(list) = v["syncs"].as_array() {
        if list.is_empty() {
            println!(
                "no sync sources: add one with `pier sync add NAME --app APP --table TABLE --source FILE`"
            );
        }
        list.iter().for_each(print_status);
    } else {
        print_status(&v);
    }
    Ok(())
}

fn print_status(s: &Value) {
    println!(
        "{} -> {}/{}: {}  snapshot rows {}  transactions {}  upserts {}  deletes {}  lag {} s",
        s["name"].as_str().unwrap_or(""),
        s["app"].as_str().unwrap_or(""),
        s["table"].as_str().unwrap_or(""),
        s["state"].as_str().unwrap_or(""),
        s["snapshot_rows"],
        s["transactions"],
        s["upserts"],
        s["deletes"],
        s["lag_seconds"]
    );
    if let Some(p) = s["position"].as_object() {
        println!("    position {}", Value::Object(p.clone()));
    }
    if let Some(e) = s["last_error"].as_str() {
        println!("    error: {e}");
    }
}
