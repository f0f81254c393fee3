//! One DNS question to the configured name servers, DNSSEC records requested (DO) and
//! checking disabled (CD), so the answer carries the signatures this module checks itself.
//!
//! UDP first, TCP when the answer is truncated; the servers in order until one answers
//! NOERROR or NXDOMAIN. Every exchange is bounded by a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Largest UDP answer asked for (the DNS flag day 2020 value).
const UDP_PAYLOAD: u16 = 1232;

/// The name servers asked and how long one exchange may take.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Client {
    /// A client asking `servers` in order.
    pub(crate) fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Self {
        Self { servers, timeout }
    }

    /// The answer to `name`/`kind` (NOERROR or NXDOMAIN).
    ///
    /// # Errors
    /// The last server's failure (timeout, I/O, SERVFAIL, a malformed or mismatched answer).
    pub(crate) async fn ask(&self, name: &Name, kind: RecordType) -> Result<Message, String> {
        let id: u16 = rand::random();
        let mut request = Message::new();
        request
            .set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .set_checking_disabled(true)
            .add_query(Query::query(name.clone(), kind));
        let mut edns = Edns::new();
        edns.set_dnssec_ok(true).set_max_payload(UDP_PAYLOAD);
        request.set_edns(edns);
        let bytes = request.to_vec().map_err(|e| e.to_string())?;
        let mut last = "no name server configured".to_owned();
        for server in &self.servers {
            match self.exchange(*server, &bytes, id, name, kind).await {
                Ok(answer) => return Ok(answer),
                Err(e) => last = format!("{server}: {e}"),
            }
        }
        Err(last)
    }

    async fn exchange(
        &self,
        server: SocketAddr,
        bytes: &[u8],
        id: u16,
        name: &Name,
        kind: RecordType,
    ) -> Result<Message, String> {
        let mut answer = tokio::time::timeout(self.timeout, udp(server, bytes))
            .await
            .map_err(|_| "timed out".to_owned())??;
        if answer.truncated() {
            answer = tokio::time::timeout(self.timeout, tcp(server, bytes))
                .await
                .map_err(|_| "timed out over TCP".to_owned())??;
        }
        let question = answer.queries().first();
        if answer.id() != id
            || !question.is_some_and(|q| q.name() == name && q.query_type() == kind)
        {
            return Err("answer does not match the question".into());
        }
        match answer.response_code() {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(answer),
            other => Err(other.to_string()),
        }
    }
}

async fn udp(server: SocketAddr, bytes: &[u8]) -> Result<Message, String> {
    let bind: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    socket.connect(server).await.map_err(|e| e.to_string())?;
    socket.send(bytes).await.map_err(|e| e.to_string())?;
    let mut buffer = vec![0u8; usize::from(UDP_PAYLOAD).max(512) * 4];
    let len = socket.recv(&mut buffer).await.map_err(|e| e.to_string())?;
    Message::from_vec(buffer.get(..len).unwrap_or_default()).map_err(|e| e.to_string())
}

async fn tcp(server: SocketAddr, bytes: &[u8]) -> Result<Message, String> {
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(bytes.len()).map_err(|e| e.to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(|e| e.to_string())?;
    let answer_len = stream.read_u16().await.map_err(|e| e.to_string())?;
    let mut buffer = vec![0u8; usize::from(answer_len)];
    stream
        .read_exact(&mut buffer)
        .await
        .map_err(|e| e.to_string())?;
    Message::from_vec(&buffer).map_err(|e| e.to_string())
}
