//! `pier table create|list|show|delete`: Vector Search Edition tables on a running server.

use crate::client::Connection;
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;
use std::path::PathBuf;

/// The `pier table` subcommands.
#[derive(Subcommand)]
pub enum TableCommand {
    /// Create a table from a CreateTableRequest JSON file (name, primaryKey, fieldSchema,
    /// vectorIndex[...]), as the cloud console exports it.
    Create {
        /// The CreateTableRequest JSON file.
        #[arg(long)]
        schema: PathBuf,
    },
    /// List tables with document and vector counts.
    List,
    /// Show a table: its schema and counters.
    Show {
        /// Table name.
        name: String,
    },
    /// Delete a table and all its data.
    Delete {
        /// Table name.
        name: String,
    },
}

fn summary(t: &Value) -> String {
    let counters = &t["table"];
    format!(
        "{:<30} {:>10} docs {:>10} vectors   lag {} batches",
        t["name"].as_str().unwrap_or(""),
        counters["documents"].as_u64().unwrap_or(0),
        counters["vectors"].as_u64().unwrap_or(0),
        counters["lag_batches"].as_u64().unwrap_or(0)
    )
}

/// Runs a `pier table` subcommand.
pub async fn run(command: TableCommand, conn: Connection, json: bool) -> anyhow::Result<()> {
    let client = conn.client()?;
    match command {
        TableCommand::Create { schema } => {
            let text = std::fs::read_to_string(&schema)
                .with_context(|| format!("cannot read {}", schema.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", schema.display()))?;
            let created = client
                .call(Method::POST, "/api/v1/vector-tables", Some(&body))
                .await?;
            if json {
                crate::print_json(&created);
            } else {
                println!(
                    "created table '{}'",
                    created["name"].as_str().unwrap_or_default()
                );
            }
        }
        TableCommand::List => {
            let v = client
                .call(Method::GET, "/api/v1/vector-tables", None)
                .await?;
            if json {
                crate::print_json(&v["tables"]);
            } else {
                for t in v["tables"].as_array().into_iter().flatten() {
                    println!("{}", summary(t));
                }
            }
        }
        TableCommand::Show { name } => {
            let v = client
                .call(Method::GET, &format!("/api/v1/vector-tables/{name}"), None)
                .await?;
            if json {
                crate::print_json(&v);
            } else {
                println!("{}", summary(&v));
                crate::print_json(&v["schema"]);
            }
        }
        TableCommand::Delete { name } => {
            client
                .call(
                    Method::DELETE,
                    &format!("/api/v1/vector-tables/{name}"),
                    None,
                )
                .await?;
            println!("deleted table '{name}'");
        }
    }
    Ok(())
}
