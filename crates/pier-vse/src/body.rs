//! Request body decoding (spec §0): the vector SDK sends `/vector-service/*` bodies compressed
//! when asked (`Content-Encoding: deflate`, zlib-wrapped per RFC 1950, from Python's
//! `zlib.compress` or Java's `Deflater`); pushes are never compressed. The Java async SDK can
//! post protobuf bodies, which pier answers with 415.

use crate::codes::Code;
use crate::error::VseError;
use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
use std::borrow::Cow;
use std::io::Read;

/// Largest `/vector-service/*` body, after decompression (design choice: room for a batch of
/// large vectors).
pub const MAX_QUERY_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The `Content-Encoding` value that marks a compressed body.
pub const DEFLATE: &str = "deflate";

/// Returns the JSON bytes of a request body: inflated when `content_encoding` is `deflate`
/// (zlib, falling back to raw deflate) or `gzip`, as is for none or `identity`. Refuses
/// protobuf bodies and other encodings with 415, corrupt data with 4007, and more than
/// `max_bytes` of output with 3002/413 (use [`MAX_QUERY_BODY_BYTES`] for queries and
/// [`crate::push::MAX_PUSH_BODY_BYTES`] for pushes).
pub fn decode_body<'a>(
    content_encoding: Option<&str>,
    content_type: Option<&str>,
    body: &'a [u8],
    max_bytes: usize,
) -> Result<Cow<'a, [u8]>, VseError> {
    if let Some(ct) = content_type
        && ct.to_ascii_lowercase().contains("protobuf")
    {
        return Err(VseError::new(
            Code::BAD_JSON,
            format!("Content-Type '{ct}' is not supported: send JSON ('application/json; charset=utf-8')"),
        )
        .with_status(415));
    }
    let too_large = || {
        VseError::new(
            Code::BODY_TOO_LARGE,
            format!("the request body is over {max_bytes} bytes: send smaller requests"),
        )
    };
    let encoding = content_encoding.map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => {
            if body.len() > max_bytes {
                return Err(too_large());
            }
            Ok(Cow::Borrowed(body))
        }
        Some(DEFLATE) => {
            let out = match inflate(ZlibDecoder::new(body), max_bytes) {
                Err(InflateError::Corrupt) => inflate(DeflateDecoder::new(body), max_bytes),
                other => other,
            };
            finish(out, "deflate (zlib, RFC 1950)", max_bytes)
        }
        Some("gzip") => finish(inflate(GzDecoder::new(body), max_bytes), "gzip", max_bytes),
        Some(other) => Err(VseError::new(
            Code::BAD_JSON,
            format!("Content-Encoding '{other}' is not supported: send the body uncompressed or with 'deflate'"),
        )
        .with_status(415)),
    }
}

enum InflateError {
    Corrupt,
    TooLarge,
}

fn inflate(reader: impl Read, max: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let limit = max as u64 + 1;
    match reader.take(limit).read_to_end(&mut out) {
        Ok(_) if out.len() > max => Err(InflateError::TooLarge),
        Ok(_) => Ok(out),
        Err(_) => Err(InflateError::Corrupt),
    }
}

fn finish(
    r: Result<Vec<u8>, InflateError>,
    what: &str,
    max: usize,
) -> Result<Cow<'static, [u8]>, VseError> {
    match r {
        Ok(v) => Ok(Cow::Owned(v)),
        Err(InflateError::TooLarge) => Err(VseError::new(
            Code::BODY_TOO_LARGE,
            format!("the decompressed request body is over {max} bytes: send smaller requests"),
        )),
        Err(InflateError::Corrupt) => Err(VseError::new(
            Code::BAD_JSON,
            format!(
                "the body is marked Content-Encoding {what} but does not decompress: compress it with zlib, or drop the header"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_what_the_sdk_sends() {
        let json = br#"{"tableName":"test","vector":[0.1]}"#;
        let z = zlib(json);
        assert_eq!(
            &*decode_body(Some("deflate"), None, &z, MAX_QUERY_BODY_BYTES).unwrap(),
            json
        );
        assert_eq!(
            &*decode_body(Some(" Deflate "), None, &z, MAX_QUERY_BODY_BYTES).unwrap(),
            json
        );
        let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(json).unwrap();
        let raw = raw.finish().unwrap();
        assert_eq!(
            &*decode_body(Some("deflate"), None, &raw, MAX_QUERY_BODY_BYTES).unwrap(),
            json
        );
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(json).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            &*decode_body(Some("gzip"), None, &gz, MAX_QUERY_BODY_BYTES).unwrap(),
            json
        );
        assert!(matches!(
            decode_body(None, Some("application/json; charset=utf-8"), json, 100).unwrap(),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            decode_body(Some("identity"), None, json, 100).unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let e = decode_body(Some("deflate"), None, b"not compressed", 100).unwrap_err();
        assert_eq!((e.code.0, e.status), (4007, 400));
        let e = decode_body(Some("br"), None, b"x", 100).unwrap_err();
        assert_eq!(e.status, 415);
        let e = decode_body(None, Some("application/protobuf"), b"x", 100).unwrap_err();
        assert_eq!(e.status, 415);
        let bomb = zlib(&vec![b' '; 10_000]);
        let e = decode_body(Some("deflate"), None, &bomb, 1_000).unwrap_err();
        assert_eq!((e.code.0, e.status), (3002, 413));
        let e = decode_body(None, None, &[b' '; 101], 100).unwrap_err();
        assert_eq!(e.status, 413);
    }
}
