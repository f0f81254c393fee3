//! SMTP smuggling: only `<CRLF>.<CRLF>` ends DATA; a message with a fake end followed, in the
//! same write, by a second MAIL/RCPT/DATA gets exactly one reply after the 354, and at most one
//! message is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config, greeted, start};

const FAKE_ENDS: [(&str, &[u8]); 7] = [
    ("<LF>.<LF>", b"\n.\n"),
    ("<LF>.<CR><LF>", b"\n.\r\n"),
    ("<CR><LF>.<LF>", b"\r\n.\n"),
    ("<CR>.<CR>", b"\r.\r"),
    ("<CR><LF>.<CR>", b"\r\n.\r"),
    ("<LF>.<CR>", b"\n.\r"),
    (".<SP><CR><LF>", b"\r\n. \r\n"),
];

#[tokio::test]
async fn fake_data_ends_never_split_a_message() {
    for (name, fake_end) in FAKE_ENDS {
        let server = start(config()).await;
        let mut c = greeted(server.addr).await;
        c.envelope("a@src.test", "b@example.org").await;
        assert_eq!(
            c.cmd("DATA").await,
            "354 End data with <CR><LF>.<CR><LF>\r\n"
        );
        let mut write = b"Subject: first\r\n\r\nhello".to_vec();
        write.extend_from_slice(fake_end);
        write.extend_from_slice(
            b"MAIL FROM:<evil@src.test>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n\
              Subject: smuggled\r\n\r\nevil\r\n.\r\n",
        );
        c.send(&write).await;
        c.send(b"QUIT\r\n").await;
        let after = c.rest().await;
        let replies: Vec<&str> = after.split_terminator("\r\n").collect();
        assert_eq!(
            replies.len(),
            2,
            "{name}: exactly one reply after 354, then 221: {after:?}"
        );
        assert!(replies[1].starts_with("221 2.0.0"), "{name}: {after:?}");
        let stored = server.handoff.stored();
        assert!(stored.len() <= 1, "{name}: {stored:?}");
        if name == ".<SP><CR><LF>" {
            // Not an end at all: one message holding everything, stored whole.
            assert!(replies[0].starts_with("250 2.6.0"), "{name}: {after:?}");
            let text = String::from_utf8(stored[0].message.as_bytes().to_vec()).unwrap();
            assert!(
                text.contains("hello\r\n \r\nMAIL FROM:<evil@src.test>"),
                "{text}"
            );
            assert!(text.ends_with("evil\r\n"), "{text}");
        } else {
            assert_eq!(
                replies[0], "554 5.6.0 Message refused: bare CR or LF in data, use CRLF",
                "{name}"
            );
            assert!(stored.is_empty(), "{name}");
        }
    }
}

#[tokio::test]
async fn commands_pipelined_after_the_real_end_run_after_it() {
    let server = start(config()).await;
    let mut c = greeted(server.addr).await;
    c.envelope("a@src.test", "b@example.org").await;
    c.cmd("DATA").await;
    c.send(
        b"one\r\n.\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<c@example.org>\r\nDATA\r\ntwo\r\n.\r\n",
    )
    .await;
    assert!(c.reply().await.starts_with("250 2.6.0"));
    assert_eq!(c.reply().await, "250 2.1.0 Sender OK\r\n");
    assert_eq!(c.reply().await, "250 2.1.5 Recipient OK\r\n");
    assert_eq!(c.reply().await, "354 End data with <CR><LF>.<CR><LF>\r\n");
    assert!(c.reply().await.starts_with("250 2.6.0"));
    let stored = server.handoff.stored();
    assert_eq!(stored.len(), 2);
    assert!(stored[0].message.as_bytes().ends_with(b"\r\none\r\n"));
    assert!(stored[1].message.as_bytes().ends_with(b"\r\ntwo\r\n"));
}
