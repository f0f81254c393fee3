//! Per-recipient rules and protocol behaviour against the scripted peer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn rcpt_250_450_550_each_count_on_their_own() {
    let peer = Peer::start(Script::default().rcpt(|addr, _| {
        match addr {
            "b@dest.test" => "450 4.2.1 mailbox busy",
            "c@dest.test" => "550 5.1.1 no such user",
            _ => "250 2.1.5 ok",
        }
        .to_owned()
    }))
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let env = envelope(&["a@dest.test", "b@dest.test", "c@dest.test"], MESSAGE);
    let out = attempt(&relay, &env).await;
    assert_eq!(codes(&out), ["250 2.0.0", "450 4.2.1", "550 5.1.1"]);
    assert_eq!(out[2].reply.text(), "no such user");
    assert!(out.iter().all(|o| o.remote_host == remote(peer.port())));
    let txns = peer.transactions();
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].rcpts, ["a@dest.test"]);
}

#[tokio::test]
async fn rcpt_552_is_treated_as_452() {
    let peer = Peer::start(Script::default().rcpt(|addr, _| {
        if addr == "full@dest.test" {
            "552 5.2.2 mailbox full"
        } else {
            "250 ok"
        }
        .to_owned()
    }))
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(
        &relay,
        &envelope(&["ok@dest.test", "full@dest.test"], MESSAGE),
    )
    .await;
    assert_eq!(codes(&out), ["250 2.0.0", "452 4.2.2"]);
    assert_eq!(out[1].reply.text(), "mailbox full");
}

#[tokio::test]
async fn mail_failure_applies_to_every_recipient() {
    let peer = Peer::start(Script {
        mail: "550 5.7.1 sender refused".into(),
        ..Script::default()
    })
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test", "b@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["550 5.7.1", "550 5.7.1"]);
    assert!(peer.transactions().is_empty());
}

#[tokio::test]
async fn data_failure_applies_to_every_accepted_recipient() {
    let peer = Peer::start(
        Script {
            data: "451 4.3.0 try later".into(),
            ..Script::default()
        }
        .rcpt(|addr, _| {
            if addr.starts_with('x') {
                "550 5.1.1 no"
            } else {
                "250 ok"
            }
            .to_owned()
        }),
    )
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(
        &relay,
        &envelope(&["a@d.test", "x@d.test", "b@d.test"], MESSAGE),
    )
    .await;
    assert_eq!(codes(&out), ["451 4.3.0", "550 5.1.1", "451 4.3.0"]);
    // The open transaction was reset before the connection went back to the pool.
    assert_eq!(peer.commands().last().map(String::as_str), Some("RSET"));
}

#[tokio::test]
async fn final_dot_rejection_applies_to_every_accepted_recipient() {
    let peer = Peer::start(
        Script::default().after_data(|_| vec!["554 5.6.0 content rejected".to_owned()]),
    )
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["554 5.6.0", "554 5.6.0"]);
}

#[tokio::test]
async fn reply_421_after_mail_is_transient_for_all() {
    let peer = Peer::start(Script {
        mail: "421 4.3.2 shutting down".into(),
        ..Script::default()
    })
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(
        &relay,
        &envelope(&["a@d.test", "b@d.test", "c@d.test"], MESSAGE),
    )
    .await;
    assert_eq!(codes(&out), ["421 4.3.2"; 3]);
    assert!(out.iter().all(|o| o.remote_host == remote(peer.port())));
}

#[tokio::test]
async fn reply_421_at_rcpt_is_transient_for_all_pending() {
    let peer = Peer::start(Script::default().rcpt(|addr, _| {
        match addr {
            "a@d.test" => "250 ok",
            "b@d.test" => "550 5.1.1 unknown",
            _ => "421 4.4.5 too busy",
        }
        .to_owned()
    }))
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(
        &relay,
        &envelope(&["a@d.test", "b@d.test", "c@d.test", "d@d.test"], MESSAGE),
    )
    .await;
    // b's own permanent reply stands; a (accepted, never sent) and the rest get the 421.
    assert_eq!(
        codes(&out),
        ["421 4.4.5", "550 5.1.1", "421 4.4.5", "421 4.4.5"]
    );
}

#[tokio::test]
async fn peer_closing_during_data_is_4_4_2() {
    let peer = Peer::start(Script {
        close_during_data: Some(10),
        ..Script::default()
    })
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let big = format!(
        "Subject: big\r\n\r\n{}\r\n",
        "line of text\r\n".repeat(2000)
    );
    let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], big.as_bytes())).await;
    assert_eq!(codes(&out), ["451 4.4.2", "451 4.4.2"]);
    assert!(out.iter().all(|o| o.remote_host == remote(peer.port())));
    assert!(peer.transactions().is_empty());
}

#[tokio::test]
async fn two_hundred_recipients_to_a_peer_taking_one_hundred() {
    let peer = Peer::start(Script::default().rcpt(|_, accepted| {
        if accepted >= 100 {
            "452 4.5.3 too many recipients"
        } else {
            "250 ok"
        }
        .to_owned()
    }))
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let rcpts: Vec<String> = (0..200).map(|i| format!("r{i}@d.test")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let out = attempt(&relay, &envelope(&refs, MESSAGE)).await;
    assert_eq!(codes(&out), vec!["250 2.0.0"; 200]);
    let txns = peer.transactions();
    assert_eq!(txns.len(), 2);
    assert_eq!(txns[0].rcpts, rcpts[..100]);
    assert_eq!(txns[1].rcpts, rcpts[100..]);
    assert_eq!(peer.connections(), 1);
    // The second transaction sent only what the peer had shown it takes.
    let rcpt_lines = peer
        .commands()
        .iter()
        .filter(|c| c.starts_with("RCPT"))
        .count();
    assert_eq!(rcpt_lines, 300);
}

#[tokio::test]
async fn configured_recipient_limit_splits_transactions() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |c| c.pool.max_recipients_per_transaction = 2);
    let out = attempt(
        &relay,
        &envelope(&["a@d.test", "b@d.test", "c@d.test"], MESSAGE),
    )
    .await;
    assert_eq!(codes(&out), vec!["250 2.0.0"; 3]);
    let txns = peer.transactions();
    assert_eq!(
        txns.iter().map(|t| t.rcpts.len()).collect::<Vec<_>>(),
        [2, 1]
    );
}

#[tokio::test]
async fn ehlo_refused_falls_back_to_helo() {
    let peer = Peer::start(Script {
        caps: None,
        ..Script::default()
    })
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    let commands = peer.commands();
    assert_eq!(commands[0], "EHLO client.test");
    assert_eq!(commands[1], "HELO client.test");
    // Without extensions: no SIZE or BODY parameters, one command at a time.
    assert_eq!(commands[2], "MAIL FROM:<sender@src.test>");
    assert!(!peer.transactions()[0].pipelined);
}

#[tokio::test]
async fn pipelining_used_only_when_offered() {
    let piped = Peer::start(Script::default()).await;
    let plain = Peer::start(Script::default().caps(&["8BITMIME"])).await;
    for (peer, expected) in [(&piped, true), (&plain, false)] {
        let relay = relay_to(peer.port(), |_| {});
        let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], MESSAGE)).await;
        assert_eq!(codes(&out), ["250 2.0.0", "250 2.0.0"]);
        assert_eq!(peer.transactions()[0].pipelined, expected);
    }
}

#[tokio::test]
async fn size_is_declared_and_checked_before_sending() {
    let peer = Peer::start(Script::default().caps(&["SIZE 100", "8BITMIME"])).await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    // The wire size: CRLF-normalised data without the final dot.
    assert_eq!(
        peer.transactions()[0].mail,
        "MAIL FROM:<sender@src.test> SIZE=24"
    );
    let big = [MESSAGE, &[b'x'; 200][..]].concat();
    let out = attempt(&relay, &envelope(&["a@d.test"], &big)).await;
    assert_eq!(codes(&out), ["552 5.3.4"]);
    // envoi wrote this refusal, not the peer: a bounce must not say `smtp;` for it.
    assert_eq!(out[0].origin, envoi_queue::ReplyOrigin::Local);
    assert_eq!(
        peer.commands()
            .iter()
            .filter(|c| c.starts_with("MAIL"))
            .count(),
        1
    );
}

#[tokio::test]
async fn eight_bit_message_declares_8bitmime() {
    let peer = Peer::start(Script::default().caps(&["8BITMIME"])).await;
    let relay = relay_to(peer.port(), |_| {});
    let msg = "Subject: x\r\n\r\ncaf\u{e9}\r\n".as_bytes();
    assert_eq!(
        codes(&attempt(&relay, &envelope(&["a@d.test"], msg)).await),
        ["250 2.0.0"]
    );
    assert_eq!(
        peer.transactions()[0].mail,
        "MAIL FROM:<sender@src.test> BODY=8BITMIME"
    );
}

#[tokio::test]
async fn smtputf8_needed_but_not_offered_is_5_6_7() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(
        &relay,
        &envelope(&["j\u{f6}rg@d.test", "a@d.test"], MESSAGE),
    )
    .await;
    assert_eq!(codes(&out), ["553 5.6.7", "553 5.6.7"]);
    assert!(out
        .iter()
        .all(|o| o.origin == envoi_queue::ReplyOrigin::Local));
    assert!(!peer.commands().iter().any(|c| c.starts_with("MAIL")));
}

#[tokio::test]
async fn smtputf8_offered_is_declared() {
    let peer = Peer::start(Script::default().caps(&["SMTPUTF8", "8BITMIME"])).await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["j\u{f6}rg@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        peer.transactions()[0].mail,
        "MAIL FROM:<sender@src.test> SMTPUTF8"
    );
    assert_eq!(peer.transactions()[0].rcpts, ["j\u{f6}rg@d.test"]);
}

#[tokio::test]
async fn bare_lf_message_arrives_with_crlf_and_dot_stuffing() {
    let peer = Peer::start(Script::default()).await;
    let relay = relay_to(peer.port(), |_| {});
    let stored = b"Subject: dots\n\n.leading dot\nplain\n..two dots\n.\nend";
    let out = attempt(&relay, &envelope(&["a@d.test"], stored)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert_eq!(
        String::from_utf8(peer.transactions()[0].data.clone()).unwrap(),
        "Subject: dots\r\n\r\n..leading dot\r\nplain\r\n...two dots\r\n..\r\nend\r\n.\r\n"
    );
}

#[tokio::test]
async fn greeting_refusal_is_the_outcome() {
    let peer = Peer::start(Script {
        banner: "554 5.7.1 go away".into(),
        ..Script::default()
    })
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["554 5.7.1"]);
    assert_eq!(out[0].remote_host, remote(peer.port()));
}

#[tokio::test]
async fn banner_timeout_is_4_4_2() {
    // A listener that accepts and never speaks.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let relay = relay_to(port, |c| c.timeouts.banner = Duration::from_millis(200));
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.2"]);
    assert!(out[0].reply.text().contains("greeting"));
    hold.abort();
}

#[tokio::test]
async fn peer_gone_at_rcpt_is_4_4_2() {
    let peer = Peer::start(Script::default().rcpt(|_, _| "CLOSE".to_owned())).await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    // Peer gone mid-transaction.
    assert_eq!(codes(&out), ["451 4.4.2"]);
}

#[tokio::test]
async fn connection_refused_is_4_4_1_unreachable_and_tried_again_when_asked() {
    let port = free_port();
    let relay = relay_to(port, |c| c.pool.dead_backoff = Duration::from_secs(3600));
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.1"]);
    assert_eq!(out[0].remote_host, remote(port));
    assert!(out[0].unreachable, "the queue backs the destination off");
    // Now something listens: the relay does not refuse on its own (the queue decides when a
    // destination is tried again), so the next attempt connects.
    let peer = Peer::start_on(&format!("127.0.0.1:{port}"), Script::default()).await;
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0"]);
    assert!(!out[0].unreachable);
    assert_eq!(peer.connections(), 1);
}

#[tokio::test]
async fn auth_plain_is_sent_and_a_refusal_is_transient() {
    let peer = Peer::start(Script::default().caps(&["AUTH PLAIN LOGIN", "PIPELINING"])).await;
    let good = relay_to(peer.port(), |c| {
        c.routes = envoi_relay::RouteTable::fixed(vec![envoi_relay::NextHop::smtp(
            "127.0.0.1",
            peer.port(),
        )
        .with_tls(envoi_relay::TlsPolicy::None)
        .with_auth("user", "secret")]);
    });
    assert_eq!(
        codes(&attempt(&good, &envelope(&["a@d.test"], MESSAGE)).await),
        ["250 2.0.0"]
    );
    assert!(peer
        .commands()
        .contains(&"AUTH PLAIN AHVzZXIAc2VjcmV0".to_owned()));
    let bad = relay_to(peer.port(), |c| {
        c.routes = envoi_relay::RouteTable::fixed(vec![envoi_relay::NextHop::smtp(
            "127.0.0.1",
            peer.port(),
        )
        .with_tls(envoi_relay::TlsPolicy::None)
        .with_auth("user", "wrong")]);
    });
    let out = attempt(&bad, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["454 4.7.8"]);
    assert_eq!(peer.transactions().len(), 1);
}

#[tokio::test]
async fn final_dot_timeout_is_4_4_2() {
    let peer = Peer::start(Script::default().after_data(|_| vec!["HANG".to_owned()])).await;
    let relay = relay_to(peer.port(), |c| {
        c.timeouts.final_dot = Duration::from_millis(200)
    });
    let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.2", "451 4.4.2"]);
    assert!(
        out[0].reply.text().contains("end of data"),
        "{}",
        out[0].reply
    );
    assert_eq!(out[0].remote_host, remote(peer.port()));
}

#[tokio::test]
async fn rcpt_timeout_is_4_4_2() {
    let peer = Peer::start(Script::default().rcpt(|_, _| "HANG".to_owned())).await;
    let relay = relay_to(peer.port(), |c| {
        c.timeouts.rcpt = Duration::from_millis(200)
    });
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.2"]);
    assert!(out[0].reply.text().contains("RCPT TO"), "{}", out[0].reply);
}

#[tokio::test]
async fn malformed_greeting_is_transient_4_5_0() {
    let peer = Peer::start(Script {
        banner: "hello, this is not SMTP".into(),
        ..Script::default()
    })
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.5.0"]);
    assert_eq!(out[0].remote_host, remote(peer.port()));
}

#[tokio::test]
async fn recipient_limit_without_pipelining() {
    let peer = Peer::start(Script::default().caps(&["8BITMIME"]).rcpt(|_, accepted| {
        if accepted >= 2 {
            "452 4.5.3 too many recipients"
        } else {
            "250 ok"
        }
        .to_owned()
    }))
    .await;
    let relay = relay_to(peer.port(), |_| {});
    let env = envelope(
        &["a@d.test", "b@d.test", "c@d.test", "d@d.test", "e@d.test"],
        MESSAGE,
    );
    let out = attempt(&relay, &env).await;
    assert_eq!(codes(&out), vec!["250 2.0.0"; 5]);
    let sizes: Vec<usize> = peer.transactions().iter().map(|t| t.rcpts.len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
}

#[tokio::test]
async fn first_recipient_refused_with_452_is_not_a_limit() {
    // 452 before any acceptance is an ordinary transient reply, not a reason to loop.
    let peer =
        Peer::start(Script::default().rcpt(|_, _| "452 4.5.3 too many recipients".to_owned()))
            .await;
    let relay = relay_to(peer.port(), |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["452 4.5.3", "452 4.5.3"]);
    assert!(peer.transactions().is_empty());
}
