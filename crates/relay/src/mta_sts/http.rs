//! The HTTP/1.1 response to the policy request, sans-IO: status `200` only (redirects are
//! refused, RFC 8461 §3.3), `Content-Type: text/plain`, the body by `Content-Length`,
//! chunked transfer coding or the end of the connection, at most [`MAX_BODY`] octets.
//!
//! # Layout
//! - [`request`]: the request bytes.
//! - [`parse`]: a response read so far → the body once complete, or why it is refused.

/// Most octets a policy body may have (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// Most octets of status line and headers.
pub const MAX_HEAD: usize = 16 * 1024;

/// Why a response is not a usable policy response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Not an HTTP/1.x response.
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    /// A status other than 200 (redirects included).
    #[error("HTTP status {0}")]
    Status(u16),
    /// A media type other than `text/plain`.
    #[error("content type {0:?} is not text/plain")]
    ContentType(String),
    /// The head or the body is too large.
    #[error("response too large")]
    TooLarge,
    /// The connection ended before the body did.
    #[error("response truncated")]
    Truncated,
}

/// The GET request for `/.well-known/mta-sts.txt` at `host`.
pub fn request(host: &str) -> Vec<u8> {
    format!(
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: envoi\r\n\
         Accept: text/plain\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The body of the response in `bytes` when it is complete, `Ok(None)` while more is needed
/// (`eof`: the connection ended, nothing more will come).
///
/// # Errors
/// An [`HttpError`] as soon as the bytes read so far settle that the response is unusable.
pub fn parse(bytes: &[u8], eof: bool) -> Result<Option<Vec<u8>>, HttpError> {
    let Some(end) = find(bytes, b"\r\n\r\n") else {
        if bytes.len() > MAX_HEAD {
            return Err(HttpError::TooLarge);
        }
        return if eof {
            Err(HttpError::Truncated)
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| HttpError::Malformed("head"))?;
    let body = &bytes[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    if !parts.next().unwrap_or_default().starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("status line"));
    }
    let code = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or(HttpError::Malformed("status code"))?;
    if code != 200 {
        return Err(HttpError::Status(code));
    }
    let mut length = None;
    let mut chunked = false;
    let mut media = None;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HttpError::Malformed("header"))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| HttpError::Malformed("length"))?,
                );
            }
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "content-type" => {
                let kind = value.split(';').next().unwrap_or_default().trim();
                media = Some(kind.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    match media.as_deref() {
        Some("text/plain") => {}
        other => return Err(HttpError::ContentType(other.unwrap_or_default().to_owned())),
    }
    if chunked {
        return dechunk(body, eof);
    }
    match length {
        Some(n) if n > MAX_BODY => Err(HttpError::TooLarge),
        Some(n) if body.len() >= n => Ok(Some(body[..n].to_vec())),
        Some(_) if eof => Err(HttpError::Truncated),
        Some(_) => Ok(None),
        None if body.len() > MAX_BODY => Err(HttpError::TooLarge),
        None if eof => Ok(Some(body.to_vec())),
        None => Ok(None),
    }
}

/// A chunked body, once its last chunk arrived.
fn dechunk(mut rest: &[u8], eof: bool) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    // Each turn consumes one chunk or returns.
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            return incomplete(eof);
        };
        let size_text = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| HttpError::Malformed("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        let start = line_end + 2;
        if size == 0 {
            return Ok(Some(out));
        }
        if size > MAX_BODY || out.len() + size > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        let Some(chunk) = rest.get(start..start + size) else {
            return incomplete(eof);
        };
        out.extend_from_slice(chunk);
        let Some(after) = rest.get(start + size..start + size + 2) else {
            return incomplete(eof);
        };
        if after != b"\r\n" {
            return Err(HttpError::Malformed("chunk end"));
        }
        rest = &rest[start + size + 2..];
    }
}

fn incomplete(eof: bool) -> Result<Option<Vec<u8>>, HttpError> {
    if eof {
        Err(HttpError::Truncated)
    } else {
        Ok(None)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n";

    #[test]
    fn bodies_by_length_by_chunks_and_by_eof() {
        let sized = format!("{OK}Content-Length: 5\r\n\r\nhello");
        assert_eq!(parse(sized.as_bytes(), false), Ok(Some(b"hello".to_vec())));
        assert_eq!(parse(&sized.as_bytes()[..sized.len() - 1], false), Ok(None));
        assert_eq!(
            parse(&sized.as_bytes()[..sized.len() - 1], true),
            Err(HttpError::Truncated)
        );
        let chunked =
            format!("{OK}Transfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n");
        assert_eq!(
            parse(chunked.as_bytes(), false),
            Ok(Some(b"hello".to_vec()))
        );
        let open = format!("{OK}\r\nhello");
        assert_eq!(parse(open.as_bytes(), false), Ok(None));
        assert_eq!(parse(open.as_bytes(), true), Ok(Some(b"hello".to_vec())));
    }

    #[test]
    fn refusals() {
        let redirect = "HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n";
        assert_eq!(
            parse(redirect.as_bytes(), true),
            Err(HttpError::Status(301))
        );
        let html = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n";
        assert_eq!(
            parse(html.as_bytes(), true),
            Err(HttpError::ContentType("text/html".into()))
        );
        let big = format!("{OK}Content-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert_eq!(parse(big.as_bytes(), false), Err(HttpError::TooLarge));
        let huge = format!("{OK}\r\n{}", "x".repeat(MAX_BODY + 1));
        assert_eq!(parse(huge.as_bytes(), false), Err(HttpError::TooLarge));
        assert_eq!(
            parse(b"SSH-2.0\r\n\r\n", true),
            Err(HttpError::Malformed("status line"))
        );
    }
}
