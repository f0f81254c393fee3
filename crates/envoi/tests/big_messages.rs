//! Large messages end to end: streamed through the spool by the real binary, in bounded
//! memory, byte-identical at the next hop, and nothing left behind by an aborted transfer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::big::{as_received, big_message, body_files, peak_rss_kib, Client};
use support::hop::{Hop, HopScript};
use support::{wait_for, Daemon};

/// The most envoi's resident set may reach while it relays 25 MiB messages (VmHWM). Held
/// whole, one such message costs 25 MiB at the edge, as much again in the spool's writer or
/// the relay's encoded copy; streamed, a few buffers.
const PEAK_RSS_KIB: u64 = 48 * 1024;

fn relay_to(hop: &Hop) -> String {
    format!(
        "[relay]\ntls = \"none\"\nsmarthost = \"smtp://127.0.0.1:{}\"\n",
        hop.port
    )
}

#[test]
fn a_25_mib_message_over_data_and_over_bdat_arrives_byte_identical_in_bounded_memory() {
    let hop = Hop::start(HopScript::new(&["PIPELINING", "8BITMIME"], b"250 2.0.0 ok"));
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &relay_to(&hop));
    let size = 25 * 1024 * 1024;
    let over_data = big_message("over-data", size);
    let over_bdat = big_message("over-bdat", size);

    let mut client = Client::connect(daemon.smtp);
    let reply = client.data(&over_data);
    assert!(reply.starts_with("250 2.6.0"), "DATA: {reply}");
    let reply = client.bdat(&over_bdat, 3 * 1024 * 1024 + 17);
    assert!(reply.starts_with("250 2.6.0"), "BDAT: {reply}");

    let txns = hop.wait_for(2);
    let mut got: Vec<Vec<u8>> = txns.iter().map(|t| as_received(&t.data)).collect();
    got.sort_by_key(|m| !m.windows(9).any(|w| w == b"over-data"));
    assert!(
        got[0] == over_data,
        "the DATA message differs at the next hop"
    );
    assert!(
        got[1] == over_bdat,
        "the BDAT message differs at the next hop"
    );
    wait_for("bodies removed after delivery", || {
        body_files(dir.path()).is_empty().then_some(())
    });
    let peak = peak_rss_kib(daemon.pid());
    eprintln!("envoi peak RSS: {peak} KiB");
    assert!(
        peak < PEAK_RSS_KIB,
        "envoi's peak RSS was {peak} KiB, the bound is {PEAK_RSS_KIB} KiB"
    );
}
