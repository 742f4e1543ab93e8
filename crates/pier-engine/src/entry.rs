//! The operation-log record of one accepted push: who sent it, when, and the body byte for byte.
//!
//! Storing the validated body as received (instead of a re-encoding) keeps the ack path to one
//! memcpy; the applier parses it again with the same validation.

/// Format version of a pushed batch's entry.
const VERSION: u8 = 1;
/// Format version of an entry written by a sync source (carries the source's position).
const VERSION_SOURCED: u8 = 2;

/// One accepted batch, as stored in a table's operation log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry<'a> {
    /// The request id returned to the client.
    pub request_id: &'a str,
    /// Receive time in ms, monotonic per table: the version of operations without a timestamp.
    pub received_ms: u64,
    /// The push body (a JSON array of operations) exactly as received.
    pub body: &'a [u8],
    /// For batches from a sync source: the source's name and its position after this batch
    /// (recorded by the applier together with the batch's effects, so a restart resumes
    /// exactly after the last applied batch).
    pub source: Option<SourceMark<'a>>,
}

/// Which sync source wrote an entry, and where that source stands after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceMark<'a> {
    /// The sync source's name.
    pub name: &'a str,
    /// Its position after this batch (JSON), if the batch completes a resumable point.
    pub position: Option<&'a str>,
}

impl<'a> LogEntry<'a> {
    /// Encodes the entry.
    pub fn encode(&self) -> Vec<u8> {
        let id = self.request_id.as_bytes();
        let mut out = Vec::with_capacity(64 + id.len() + self.body.len());
        out.push(if self.source.is_some() {
            VERSION_SOURCED
        } else {
            VERSION
        });
        out.extend_from_slice(&self.received_ms.to_le_bytes());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        if let Some(mark) = &self.source {
            let position = mark.position.unwrap_or("");
            for part in [mark.name, position] {
                out.extend_from_slice(&(part.len() as u32).to_le_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out.extend_from_slice(self.body);
        out
    }

    /// Decodes an entry written by `encode`.
    pub fn decode(bytes: &'a [u8]) -> Option<LogEntry<'a>> {
        let (&version, rest) = bytes.split_first()?;
        if !matches!(version, VERSION | VERSION_SOURCED) || rest.len() < 9 {
            return None;
        }
        let received_ms = u64::from_le_bytes(rest[..8].try_into().ok()?);
        let id_len = rest[8] as usize;
        let rest = &rest[9..];
        if rest.len() < id_len {
            return None;
        }
        let request_id = std::str::from_utf8(&rest[..id_len]).ok()?;
        let mut rest = &rest[id_len..];
        let mut source = None;
        if version == VERSION_SOURCED {
            let mut part = || -> Option<&'a str> {
                let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
                let text = std::str::from_utf8(rest.get(4..4 + len)?).ok()?;
                rest = &rest[4 + len..];
                Some(text)
            };
            let name = part()?;
            let position = part()?;
            source = Some(SourceMark {
                name,
                position: (!position.is_empty()).then_some(position),
            });
        }
        Some(LogEntry {
            request_id,
            received_ms,
            body: rest,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = LogEntry {
            request_id: "177000000012345678901234",
            received_ms: 1_770_000_000_123,
            body: b"[{\"cmd\":\"add\"}]",
            source: None,
        };
        assert_eq!(LogEntry::decode(&e.encode()), Some(e.clone()));
        let sourced = LogEntry {
            source: Some(SourceMark {
                name: "orders",
                position: Some("{\"file\":\"bin.000001\",\"pos\":4}"),
            }),
            ..e.clone()
        };
        assert_eq!(LogEntry::decode(&sourced.encode()), Some(sourced));
        let unpositioned = LogEntry {
            source: Some(SourceMark {
                name: "orders",
                position: None,
            }),
            ..e
        };
        assert_eq!(LogEntry::decode(&unpositioned.encode()), Some(unpositioned));
        assert_eq!(LogEntry::decode(&[2, 0]), None);
    }
}
