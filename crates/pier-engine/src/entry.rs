//! The operation-log record of one accepted push: who sent it, when, and the body byte for byte.
//!
//! Storing the validated body as received (instead of a re-encoding) keeps the ack path to one
//! memcpy; the applier parses it again with the same validation.

/// Format version of a log entry.
const VERSION: u8 = 1;

/// One accepted batch, as stored in a table's operation log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry<'a> {
    /// The request id returned to the client.
    pub request_id: &'a str,
    /// Receive time in ms, monotonic per table: the version of operations without a timestamp.
    pub received_ms: u64,
    /// The push body (a JSON array of operations) exactly as received.
    pub body: &'a [u8],
}

impl<'a> LogEntry<'a> {
    /// Encodes the entry.
    pub fn encode(&self) -> Vec<u8> {
        let id = self.request_id.as_bytes();
        let mut out = Vec::with_capacity(10 + id.len() + self.body.len());
        out.push(VERSION);
        out.extend_from_slice(&self.received_ms.to_le_bytes());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(self.body);
        out
    }

    /// Decodes an entry written by `encode`.
    pub fn decode(bytes: &'a [u8]) -> Option<LogEntry<'a>> {
        let (&version, rest) = bytes.split_first()?;
        if version != VERSION || rest.len() < 9 {
            return None;
        }
        let received_ms = u64::from_le_bytes(rest[..8].try_into().ok()?);
        let id_len = rest[8] as usize;
        let rest = &rest[9..];
        if rest.len() < id_len {
            return None;
        }
        Some(LogEntry {
            request_id: std::str::from_utf8(&rest[..id_len]).ok()?,
            received_ms,
            body: &rest[id_len..],
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
        };
        assert_eq!(LogEntry::decode(&e.encode()), Some(e));
        assert_eq!(LogEntry::decode(&[2, 0]), None);
    }
}
