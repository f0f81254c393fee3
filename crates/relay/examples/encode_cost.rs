//! Instruction-count harness for [`envoi_relay::proto::data::encode`], meant to run under
//! callgrind (this VM has no hardware counters):
//!
//! ```text
//! cargo build --release -p envoi-relay --example encode_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/encode_cost 0
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/encode_cost 2000
//! ```
//!
//! The difference between the two "Collected" totals, divided by the count, is the cost of one
//! encode of a 4 KiB message shaped like smtp-source's (headers, then 78-octet lines), the
//! allocation and free of its output included.

use std::hint::black_box;

/// A stored 4 KiB message: CRLF lines, one of them starting with a dot.
fn message() -> Vec<u8> {
    let mut m = b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: x\r\n\r\n".to_vec();
    let mut line = 0;
    while m.len() < 4096 {
        let fill = if line == 10 { b'.' } else { b'X' };
        m.extend(std::iter::repeat_n(fill, 78));
        m.extend_from_slice(b"\r\n");
        line += 1;
    }
    m.truncate(4094);
    m.extend_from_slice(b"\r\n");
    m
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let message = message();
    let mut total = 0usize;
    for _ in 0..count {
        total += black_box(envoi_relay::proto::data::encode(black_box(&message))).len();
    }
    println!("{count} encodes, {total} octets out");
}
