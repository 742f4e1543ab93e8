//! `pier search APP "query=…&&config=…"`: one V3 search, printed readably or as JSON.

use crate::client::Connection;
use clap::Args;

/// Arguments of `pier search`.
#[derive(Args)]
pub struct SearchArgs {
    /// App name.
    app: String,
    /// The V3 query string: clauses joined by &&, e.g. "query=default:'word'&&config=hit:5".
    /// A bare word or quoted phrase is searched in the default index.
    query: String,
    /// Fields to return, separated by ';' (default: all).
    #[arg(long)]
    fetch_fields: Option<String>,
    /// Highlighting, as the summary URL parameter: "summary_field:title,summary_len:50".
    #[arg(long)]
    summary: Option<String>,
    #[command(flatten)]
    conn: Connection,
    /// Print the server's JSON response.
    #[arg(long)]
    json: bool,
}

/// A query string as users type it: clauses as they are, a bare term searched in the default
/// index (`pier search shop phone` is `query=default:'phone'`).
fn query_param(text: &str) -> String {
    let text = text.trim();
    let clause = [
        "query=",
        "config=",
        "filter=",
        "sort=",
        "distinct=",
        "aggregate=",
        "kvpairs=",
    ];
    if clause.iter().any(|c| text.contains(c)) {
        text.to_string()
    } else {
        let escaped = text.replace('\\', "\\\\").replace('\'', "\\'");
        format!("query=default:'{escaped}'")
    }
}

/// Runs the command.
pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    let mut params = vec![("query".to_string(), query_param(&args.query))];
    if let Some(f) = &args.fetch_fields {
        params.push(("fetch_fields".into(), f.clone()));
    }
    if let Some(s) = &args.summary {
        params.push(("summary".into(), s.clone()));
    }
    let v = args.conn.client()?.search(&args.app, &params).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let result = &v["result"];
    println!(
        "{} of {} matches in {:.1} ms",
        result["num"],
        result["total"],
        result["searchtime"].as_f64().unwrap_or(0.0) * 1000.0
    );
    for (i, item) in result["items"].as_array().into_iter().flatten().enumerate() {
        let fields = item.get("fields").unwrap_or(item);
        println!("\n{:>3}.", i + 1);
        if let Some(map) = fields.as_object() {
            for (k, v) in map.iter().filter(|(k, _)| *k != "index_name") {
                println!("     {k}: {}", v.as_str().unwrap_or(&v.to_string()));
            }
        }
    }
    for facet in result["facet"].as_array().into_iter().flatten() {
        println!("\nfacet {}:", facet["key"].as_str().unwrap_or(""));
        for item in facet["items"].as_array().into_iter().flatten() {
            println!("  {}", item);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_words_search_the_default_index() {
        assert_eq!(query_param("phone"), "query=default:'phone'");
        assert_eq!(query_param("it's"), "query=default:'it\\'s'");
        assert_eq!(
            query_param("query=title:'a'&&config=hit:5"),
            "query=title:'a'&&config=hit:5"
        );
    }
}
