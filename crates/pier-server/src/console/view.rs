//! The console's page frame and the small pieces pages share: numbers, times, sparkline charts,
//! highlighted text. Everything goes through maud, which escapes every interpolated value.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

/// Marks the start of a highlighted term in executor summaries. The console asks the executor
/// for these private-use characters instead of `<em>`, so the document text around them can be
/// escaped like any other value and the highlight still becomes a real `<em>` element.
pub const HIGHLIGHT_START: &str = "\u{E000}";
/// Marks the end of a highlighted term.
pub const HIGHLIGHT_END: &str = "\u{E001}";

/// A breadcrumb trail entry: text and, except for the current page, a link.
pub type Crumb<'a> = (&'a str, Option<String>);

/// A whole page for a logged-in viewer: header with navigation and logout, breadcrumbs, body.
pub fn page(title: &str, key_id: &str, crumbs: &[Crumb<'_>], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "pier" }
                    span.who { "Logged in as " code { (key_id) } }
                    form method="post" action="/logout" {
                        button type="submit" { "Log out" }
                    }
                }
                @if !crumbs.is_empty() {
                    nav.crumbs aria-label="Breadcrumb" {
                        ol {
                            @for (text, link) in crumbs {
                                li {
                                    @match link {
                                        Some(href) => a href=(href) { (text) },
                                        None => span aria-current="page" { (text) },
                                    }
                                }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · pier" }
            link rel="stylesheet" href="/assets/console.css";
            script src="/assets/console.js" defer {}
        }
    }
}

/// The login page, with an error when the last attempt failed.
pub fn login(next: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body {
                main #main .login {
                    h1 { "Log in to pier" }
                    @if let Some(e) = error {
                        p.error role="alert" { (e) }
                    }
                    form method="post" action="/login" {
                        input type="hidden" name="next" value=(next);
                        p {
                            label for="key_id" { "Access key id" }
                            input #key_id name="key_id" type="text" autocomplete="username"
                                required autofocus spellcheck="false";
                        }
                        p {
                            label for="secret" { "Access key secret" }
                            input #secret name="secret" type="password"
                                autocomplete="current-password" required;
                        }
                        p { button type="submit" { "Log in" } }
                    }
                    p.hint {
                        "Use an access key of this pier (" code { "pier key create" }
                        " makes one; the first start prints one)."
                    }
                }
            }
        }
    }
}

/// A count with thousands separators (`100,000`).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time in ms since the epoch as `2026-11-22 10:15:03 UTC`.
pub fn when(ms: u64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A short number: integers as such, others with at most two decimals.
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.2}")
    }
}

/// Chart size in CSS pixels (the SVG's own coordinates).
const SPARK_W: f64 = 120.0;
const SPARK_H: f64 = 28.0;

/// A small line chart of `values` (oldest first) labelled for screen readers with what it shows
/// and its range; with fewer than two values there is no line yet.
pub fn sparkline(what: &str, values: &[f64]) -> Markup {
    if values.len() < 2 {
        return html! { span.spark-empty { "collecting…" } };
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = SPARK_W / (values.len() - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = SPARK_H - 2.0 - (v - lo) / span * (SPARK_H - 4.0);
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect();
    let label = format!(
        "{what} over the last hour: from {} to {}, now {}",
        number(lo),
        number(hi),
        number(*values.last().expect("two values or more"))
    );
    html! {
        svg.spark role="img" aria-label=(label) viewBox={"0 0 " (SPARK_W) " " (SPARK_H)}
            width=(SPARK_W) height=(SPARK_H) {
            title { (label) }
            polyline points=(points.join(" ")) fill="none" stroke="currentColor" stroke-width="1.5";
        }
    }
}

/// Text with the executor's highlight markers turned into `<em>`; the rest is escaped as usual.
pub fn highlighted(text: &str) -> Markup {
    let mut parts = Vec::new();
    for (i, chunk) in text.split(HIGHLIGHT_START).enumerate() {
        match chunk.split_once(HIGHLIGHT_END) {
            // Every chunk but the first began with a start marker.
            Some((marked, rest)) if i > 0 => {
                parts.push((true, marked));
                parts.push((false, rest));
            }
            _ => parts.push((false, chunk)),
        }
    }
    html! {
        @for (marked, part) in parts {
            @if marked { em { (part) } } @else { (part.replace(HIGHLIGHT_END, "")) }
        }
    }
}

/// A stored value as the V3 API prints it: strings as such, arrays joined by a tab (shown as
/// ", " here, where a tab would be invisible), numbers in JSON form.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(100_000), "100,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn highlights_become_em_and_the_rest_is_escaped() {
        let text = format!("a <b> {HIGHLIGHT_START}pier{HIGHLIGHT_END} & {HIGHLIGHT_START}x");
        assert_eq!(
            highlighted(&text).into_string(),
            "a &lt;b&gt; <em>pier</em> &amp; x"
        );
    }

    #[test]
    fn sparkline_is_labelled_with_its_range() {
        let svg = sparkline("documents", &[1.0, 3.0, 2.0]).into_string();
        assert!(svg.contains("aria-label=\"documents over the last hour: from 1 to 3, now 2\""));
        assert!(svg.contains("<polyline points=\"0.0,26.0 60.0,2.0 120.0,14.0\""));
        assert!(
            sparkline("documents", &[1.0])
                .into_string()
                .contains("collecting")
        );
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
    }
}
