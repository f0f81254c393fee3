//! The production resolver (hickory) against a scripted DNS server on 127.0.0.1: MX, A,
//! NODATA, NXDOMAIN and SERVFAIL come out as the relay expects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;

use envoi_relay::{DnsError, HickoryResolver, Resolver};
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX, SOA};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

fn soa() -> Record {
    let zone = Name::from_ascii("test.").unwrap();
    let rdata = SOA::new(
        Name::from_ascii("ns.test.").unwrap(),
        Name::from_ascii("admin.test.").unwrap(),
        1,
        3600,
        600,
        86400,
        60,
    );
    Record::from_rdata(zone, 60, RData::SOA(rdata))
}

/// Answers one query by the name asked.
fn answer(query: &Message) -> Message {
    let mut response = Message::new();
    response
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    let Some(q) = query.queries().first() else {
        return response;
    };
    response.add_query(q.clone());
    let name = q.name().to_utf8().to_lowercase();
    match (name.as_str(), q.query_type()) {
        ("mail.test.", RecordType::MX) => {
            let exchange = Name::from_ascii("mx1.mail.test.").unwrap();
            response.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::MX(MX::new(10, exchange)),
            ));
        }
        ("nullmx.test.", RecordType::MX) => {
            response.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::MX(MX::new(0, Name::root())),
            ));
        }
        ("mx1.mail.test.", RecordType::A) => {
            response.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            ));
        }
        ("nx.test.", _) => {
            response.set_response_code(ResponseCode::NXDomain);
            response.add_name_server(soa());
        }
        ("fail.test.", _) => {
            response.set_response_code(ResponseCode::ServFail);
        }
        // Everything else exists with no records of the type asked (NODATA).
        _ => {
            response.add_name_server(soa());
        }
    }
    response
}

async fn dns_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if let Ok(bytes) = answer(&query).to_vec() {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    (addr, task)
}

#[tokio::test]
async fn hickory_maps_answers_and_errors() {
    let (addr, server) = dns_server().await;
    let dns = HickoryResolver::new(&[addr]);
    let mx = dns.mx("mail.test").await.unwrap();
    assert_eq!(mx.len(), 1);
    assert_eq!(
        (mx[0].preference, mx[0].exchange.as_str()),
        (10, "mx1.mail.test")
    );
    assert_eq!(
        dns.ips("mx1.mail.test").await.unwrap(),
        [std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)]
    );
    let null = dns.mx("nullmx.test").await.unwrap();
    assert_eq!(null.len(), 1);
    assert_eq!(null[0].exchange, "");
    assert_eq!(dns.mx("nodata.test").await, Ok(vec![]));
    assert_eq!(dns.mx("nx.test").await, Err(DnsError::NotFound));
    assert!(matches!(
        dns.mx("fail.test").await,
        Err(DnsError::Temporary(_))
    ));
    server.abort();
}
