//! Instruction-count harness for [`envoi_edge::proto::DataReader::feed`], meant to run under
//! callgrind (this VM has no hardware counters):
//!
//! ```text
//! cargo build --release -p envoi-edge --example feed_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/feed_cost 0
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/feed_cost 2000 [piece]
//! ```
//!
//! The difference between the two "Collected" totals, divided by the count, is the cost of
//! reading one 4 KiB DATA body shaped like smtp-source's (headers, then 78-octet lines, one
//! dot-stuffed) through a fresh reader up to `finish`, the body's allocation included. The
//! body is fed whole, as one socket read delivers it, or in `piece`-octet reads.

use std::hint::black_box;

use envoi_edge::proto::DataReader;

/// A 4 KiB message as the client sends it: CRLF lines, one dot-stuffed, then `.CRLF`.
fn wire() -> Vec<u8> {
    let mut m = b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: x\r\n\r\n".to_vec();
    let mut line = 0;
    while m.len() < 4096 {
        if line == 10 {
            m.push(b'.');
            m.extend(std::iter::repeat_n(b'.', 77));
        } else {
            m.extend(std::iter::repeat_n(b'X', 78));
        }
        m.extend_from_slice(b"\r\n");
        line += 1;
    }
    m.truncate(4094);
    m.extend_from_slice(b"\r\n.\r\n");
    m
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let wire = wire();
    let piece: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(wire.len())
        .max(1);
    let mut total = 0usize;
    for _ in 0..count {
        let mut reader = DataReader::new(10 << 20);
        for part in black_box(&wire).chunks(piece) {
            if reader.feed(part).1 {
                break;
            }
        }
        total += reader.finish().map(|body| body.len()).unwrap_or(0);
    }
    println!("{count} bodies, {total} octets kept");
}
