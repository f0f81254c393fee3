//! Invariant checks over the sans-IO parsers, shared by the fuzz targets
//! (`crates/edge/fuzz/`) and the corpus replay test, so both exercise the same properties.
//!
//! Each function takes arbitrary bytes and panics when a property fails: that is what a
//! fuzzer looks for. They never panic on well-behaved parsers, whatever the input.

use bytes::BytesMut;

use super::{Command, DataReader, LineEvent, LineReader};

/// Feeds `input` to a [`LineReader`] in uneven pieces and parses every framed line.
///
/// Properties: the reader's buffer never exceeds the limit after it asks for more input; a
/// framed line never holds CR or LF and respects the limit; parsing never panics.
pub fn command_input(input: &[u8]) {
    const LIMIT: usize = 512;
    let mut reader = LineReader::new(LIMIT);
    let mut buf = BytesMut::new();
    // Piece sizes vary with the input so the fuzzer explores framing across reads.
    let step = usize::from(input.first().copied().unwrap_or(1)).max(1);
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        // Each event removes at least one octet from `buf`, so this ends.
        while let Some(event) = reader.next(&mut buf) {
            if let LineEvent::Line(line) = event {
                assert!(line.len() + 2 <= LIMIT, "framed line over the limit");
                assert!(
                    !line.contains(&b'\r') && !line.contains(&b'\n'),
                    "CR/LF in a line"
                );
                let _ = Command::parse(&line);
            }
        }
        assert!(
            buf.len() <= LIMIT,
            "buffer grew past the limit: {}",
            buf.len()
        );
    }
}

/// Reads `input` as DATA content three ways (all at once, in pieces, and octet by octet
/// without the fast path) and checks they agree.
///
/// Properties: the end position and the verdict do not depend on how the input is split;
/// stopping to keep content half-way changes the verdict to a refusal but not the end;
/// the kept message never exceeds the limit; a message that is accepted never holds a bare
/// CR or LF; bytes after the end are never consumed.
pub fn data_input(input: &[u8]) {
    const LIMIT: usize = 4096;
    let whole = read(input, input.len().max(1), LIMIT);
    let step = usize::from(input.first().copied().unwrap_or(1)).max(1);
    let pieces = read(input, step, LIMIT);
    let reference = read_reference(input, LIMIT);
    assert_eq!(whole, pieces, "result depends on how the input is split");
    assert_eq!(
        whole, reference,
        "fast path disagrees with the octet-at-a-time reference"
    );
    // Giving up keeping content half-way never moves the end, and always refuses.
    let mut starved = DataReader::new(LIMIT);
    let half = input.len() / 2;
    let (first, done_early) = starved.feed(&input[..half]);
    let starved_end = if done_early {
        Some(first)
    } else {
        starved.stop_keeping();
        let (rest, done) = starved.feed(&input[half..]);
        done.then_some(first + rest)
    };
    assert_eq!(
        starved_end, whole.0,
        "stop_keeping moved the end of the data"
    );
    if !done_early {
        let verdict = starved.finish();
        assert!(
            matches!(
                verdict,
                Err(super::DataProblem::NotKept | super::DataProblem::TooBig)
            ),
            "a starved reader accepted a message: {verdict:?}"
        );
    }
    if let (Some(used), Ok(message)) = &whole {
        assert!(*used <= input.len());
        assert!(message.len() <= LIMIT, "kept more than the limit");
        assert!(input[..*used].ends_with(b"\r\n.\r\n") || input[..*used] == b".\r\n"[..]);
        assert!(
            !has_bare_line_ending(message),
            "accepted message with bare CR/LF"
        );
    }
}

type Outcome = (Option<usize>, Result<bytes::Bytes, super::DataProblem>);

fn read(input: &[u8], step: usize, limit: usize) -> Outcome {
    let mut reader = DataReader::new(limit);
    let mut used = 0;
    let mut end = None;
    for piece in input.chunks(step) {
        let (n, done) = reader.feed(piece);
        assert!(n <= piece.len());
        used += n;
        if done {
            end = Some(used);
            break;
        }
        assert_eq!(n, piece.len(), "bytes left unconsumed before the end");
    }
    (end, reader.finish())
}

fn read_reference(input: &[u8], limit: usize) -> Outcome {
    let mut reader = DataReader::new(limit);
    let (used, done) = reader.feed_each_octet(input);
    (done.then_some(used), reader.finish())
}

fn has_bare_line_ending(message: &[u8]) -> bool {
    message.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => message.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || message[i - 1] != b'\r',
        _ => false,
    })
}
