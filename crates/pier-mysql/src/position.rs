//! Binlog positions (file + offset, and the GTID state where the server has one).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A point in the server's binlog between two transactions.
///
/// `file` + `pos` name the first byte after the last transaction covered; `gtid` is the server's
/// GTID state at that point in the server's own notation (MariaDB: `domain-server-seq` per
/// domain, comma separated, like `@@gtid_binlog_pos`; MySQL: a GTID set like `@@gtid_executed`,
/// `uuid:1-42,uuid2:1-7`). Serialize it to checkpoint; [`crate::MysqlSource::stream_from`] resumes
/// with the first transaction after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Binlog file name, e.g. `binlog.000003`.
    pub file: String,
    /// Byte offset in `file` where the next transaction starts.
    pub pos: u64,
    /// GTID state after the last covered transaction, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
}

impl Position {
    /// A file/offset position without GTID.
    pub fn new(file: impl Into<String>, pos: u64) -> Self {
        Position {
            file: file.into(),
            pos,
            gtid: None,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)?;
        if let Some(g) = &self.gtid {
            write!(f, " (gtid {g})")?;
        }
        Ok(())
    }
}

/// Running GTID state maintained by the binlog reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GtidState {
    /// Unknown (no GTIDs on this server or not yet learned).
    None,
    /// MariaDB: domain → (server_id, seq_no) of the last GTID in that domain.
    MariaDb(BTreeMap<u32, (u32, u64)>),
    /// MySQL: source uuid → sorted, disjoint, inclusive intervals of transaction numbers.
    MySql(BTreeMap<String, Vec<(u64, u64)>>),
}

impl GtidState {
    pub(crate) fn parse_mariadb(s: &str) -> Option<GtidState> {
        let mut m = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.split('-');
            let d = it.next()?.parse().ok()?;
            let srv = it.next()?.parse().ok()?;
            let seq = it.next()?.parse().ok()?;
            if it.next().is_some() {
                return None;
            }
            m.insert(d, (srv, seq));
        }
        Some(GtidState::MariaDb(m))
    }

    pub(crate) fn parse_mysql(s: &str) -> Option<GtidState> {
        let mut m: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.split(':');
            let uuid = it.next()?.trim().to_ascii_lowercase();
            let ivs = m.entry(uuid).or_default();
            for iv in it {
                let (a, b) = match iv.split_once('-') {
                    Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
                    None => {
                        let a: u64 = iv.trim().parse().ok()?;
                        (a, a)
                    }
                };
                if a == 0 || b < a {
                    return None;
                }
                ivs.push((a, b));
            }
            normalize(ivs);
        }
        Some(GtidState::MySql(m))
    }

    /// Record a MariaDB GTID.
    pub(crate) fn add_mariadb(&mut self, domain: u32, server: u32, seq: u64) {
        if !matches!(self, GtidState::MariaDb(_)) {
            *self = GtidState::MariaDb(BTreeMap::new());
        }
        if let GtidState::MariaDb(m) = self {
            m.insert(domain, (server, seq));
        }
    }

    /// Record a MySQL GTID.
    pub(crate) fn add_mysql(&mut self, uuid: &str, gno: u64) {
        if !matches!(self, GtidState::MySql(_)) {
            *self = GtidState::MySql(BTreeMap::new());
        }
        if let GtidState::MySql(m) = self {
            let ivs = m.entry(uuid.to_string()).or_default();
            ivs.push((gno, gno));
            normalize(ivs);
        }
    }

    pub(crate) fn to_text(&self) -> Option<String> {
        match self {
            GtidState::None => None,
            GtidState::MariaDb(m) => Some(
                m.iter()
                    .map(|(d, (s, n))| format!("{d}-{s}-{n}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            GtidState::MySql(m) => Some(
                m.iter()
                    .filter(|(_, ivs)| !ivs.is_empty())
                    .map(|(u, ivs)| {
                        let mut s = u.clone();
                        for (a, b) in ivs {
                            if a == b {
                                s.push_str(&format!(":{a}"));
                            } else {
                                s.push_str(&format!(":{a}-{b}"));
                            }
                        }
                        s
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        }
    }
}

fn normalize(ivs: &mut Vec<(u64, u64)>) {
    ivs.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ivs.len());
    for &(a, b) in ivs.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *ivs = out;
}

/// Format a 16-byte MySQL server uuid the way MySQL prints it.
pub(crate) fn uuid_text(b: &[u8; 16]) -> String {
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_roundtrip() {
        let mut g = GtidState::parse_mariadb("0-1-7,2-5-9").unwrap();
        g.add_mariadb(0, 1, 8);
        assert_eq!(g.to_text().unwrap(), "0-1-8,2-5-9");
        assert_eq!(GtidState::parse_mariadb("").unwrap().to_text().unwrap(), "");
    }

    #[test]
    fn mysql_sets() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mut g = GtidState::parse_mysql(&format!("{u}:1-5:7")).unwrap();
        g.add_mysql(u, 6);
        assert_eq!(g.to_text().unwrap(), format!("{u}:1-7"));
        g.add_mysql(u, 9);
        assert_eq!(g.to_text().unwrap(), format!("{u}:1-7:9"));
        let b = [
            0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42,
            0x95, 0x62,
        ];
        assert_eq!(uuid_text(&b), u);
    }

    #[test]
    fn position_serde() {
        let p = Position {
            file: "binlog.000001".into(),
            pos: 820,
            gtid: Some("0-1-3".into()),
        };
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(s, r#"{"file":"binlog.000001","pos":820,"gtid":"0-1-3"}"#);
        assert_eq!(serde_json::from_str::<Position>(&s).unwrap(), p);
        let q: Position = serde_json::from_str(r#"{"file":"f","pos":4}"#).unwrap();
        assert_eq!(q.gtid, None);
    }
}
