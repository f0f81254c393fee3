//! A message's state (`MessageMeta`) as layout 4 stores it: in the `state` table (the row a
//! retry, hold or status change rewrites) and, as the state it was stored with, inside a
//! format 5 metadata row. Every recipient is named by its index in the envelope's recipients,
//! so an address is stored once per message, in the metadata row.
//!
//! A state row is a format byte then, for format 1 ([`FORMAT_1`]), the postcard-encoded
//! [`State`], nothing after; for format 2 ([`FORMAT`], written since layout 5), the same
//! [`State`] followed by the postcard-encoded [`Tls`] list (each recipient's TLS report, in
//! the order of the state's recipients), nothing after. A format 1 row reads with no TLS
//! reports. The state inside a metadata row stays a bare [`State`] (written when the message
//! is stored, before any attempt: no TLS report to keep).

use std::time::SystemTime;

use envoi_queue::storage::{AttemptRecord, AttemptReply, MessageHistory};
use envoi_queue::MessageMeta;
use envoi_types::{Address, AppliedTls, RecipientState, RecipientStatus, Reply, TlsReport};
use serde::{Deserialize, Serialize};

/// The format byte of the state rows this build writes.
pub(crate) const FORMAT: u8 = 2;
/// The format byte of state rows written before TLS reports (layout 4).
pub(crate) const FORMAT_1: u8 = 1;

/// Which TLS policy applied, as a state row stores it: its own enum, so the row's encoding
/// never follows a change of [`AppliedTls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Policy {
    None,
    Opportunistic,
    Required,
    MtaSts,
    Dane,
}

/// One recipient's TLS report as a state row stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Report {
    policy: Policy,
    verified: bool,
}

impl From<TlsReport> for Report {
    fn from(report: TlsReport) -> Self {
        let policy = match report.policy {
            AppliedTls::None => Policy::None,
            AppliedTls::Opportunistic => Policy::Opportunistic,
            AppliedTls::Required => Policy::Required,
            AppliedTls::MtaSts => Policy::MtaSts,
            AppliedTls::Dane => Policy::Dane,
        };
        Self {
            policy,
            verified: report.verified,
        }
    }
}

impl From<Report> for TlsReport {
    fn from(report: Report) -> Self {
        let policy = match report.policy {
            Policy::None => AppliedTls::None,
            Policy::Opportunistic => AppliedTls::Opportunistic,
            Policy::Required => AppliedTls::Required,
            Policy::MtaSts => AppliedTls::MtaSts,
            Policy::Dane => AppliedTls::Dane,
        };
        Self {
            policy,
            verified: report.verified,
        }
    }
}

/// The TLS reports of a format 2 state row, one per recipient of its [`State`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tls(Vec<Option<Report>>);

/// A recipient of the message: its index in the envelope's recipients, or (never written by
/// this build for a recipient of the envelope, but readable) the address itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Recipient {
    Index(u32),
    Address(Address),
}

impl Recipient {
    /// `address` by its index in `recipients`, looked for at `hint` first (statuses are in
    /// the envelope's order).
    pub(super) fn of(address: &Address, recipients: &[Address], hint: usize) -> Self {
        let index = match recipients.get(hint) {
            Some(at) if at == address => Some(hint),
            _ => recipients.iter().position(|r| r == address),
        };
        match index.and_then(|i| u32::try_from(i).ok()) {
            Some(i) => Self::Index(i),
            None => Self::Address(address.clone()),
        }
    }

    pub(super) fn resolve(self, recipients: &[Address]) -> Result<Address, String> {
        match self {
            Self::Address(address) => Ok(address),
            Self::Index(i) => usize::try_from(i)
                .ok()
                .and_then(|i| recipients.get(i))
                .cloned()
                .ok_or_else(|| format!("recipient {i} of {} named", recipients.len())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Status {
    recipient: Recipient,
    state: RecipientState,
    last_reply: Option<Reply>,
    remote_host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AttemptedReply {
    recipient: Recipient,
    reply: Reply,
    remote_host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Attempt {
    at: SystemTime,
    replies: Vec<AttemptedReply>,
}

/// `MessageMeta` with its recipients named by index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct State {
    attempts: u32,
    next_attempt: SystemTime,
    held: bool,
    recipients: Vec<Status>,
    history: Vec<Attempt>,
    delay_warnings_sent: u32,
}

impl State {
    /// `meta`, its recipients named against `recipients`.
    pub fn of(meta: &MessageMeta, recipients: &[Address]) -> Self {
        let statuses = meta.recipients.iter().enumerate();
        let history = meta.history.attempts.iter().map(|attempt| Attempt {
            at: attempt.at,
            replies: (attempt.replies.iter().enumerate())
                .map(|(i, r)| AttemptedReply {
                    recipient: Recipient::of(&r.recipient, recipients, i),
                    reply: r.reply.clone(),
                    remote_host: r.remote_host.clone(),
                })
                .collect(),
        });
        Self {
            attempts: meta.attempts,
            next_attempt: meta.next_attempt,
            held: meta.held,
            recipients: statuses
                .map(|(i, s)| Status {
                    recipient: Recipient::of(&s.recipient, recipients, i),
                    state: s.state,
                    last_reply: s.last_reply.clone(),
                    remote_host: s.remote_host.clone(),
                })
                .collect(),
            history: history.collect(),
            delay_warnings_sent: meta.history.delay_warnings_sent,
        }
    }

    /// The `MessageMeta` this is, its recipients named from `recipients`; the error says which
    /// index names no recipient.
    pub fn into_meta(self, recipients: &[Address]) -> Result<MessageMeta, String> {
        let statuses = (self.recipients.into_iter())
            .map(|s| {
                Ok(RecipientStatus {
                    recipient: s.recipient.resolve(recipients)?,
                    state: s.state,
                    last_reply: s.last_reply,
                    remote_host: s.remote_host,
                    tls: None,
                })
            })
            .collect::<Result<_, String>>()?;
        let attempts = (self.history.into_iter())
            .map(|a| {
                let replies = (a.replies.into_iter())
                    .map(|r| {
                        Ok(AttemptReply {
                            recipient: r.recipient.resolve(recipients)?,
                            reply: r.reply,
                            remote_host: r.remote_host,
                        })
                    })
                    .collect::<Result<_, String>>()?;
                Ok(AttemptRecord { at: a.at, replies })
            })
            .collect::<Result<_, String>>()?;
        Ok(MessageMeta {
            attempts: self.attempts,
            next_attempt: self.next_attempt,
            held: self.held,
            recipients: statuses,
            history: MessageHistory {
                attempts,
                delay_warnings_sent: self.delay_warnings_sent,
            },
        })
    }
}

/// The state row of `meta`, whose envelope has `recipients`.
pub(crate) fn encode(meta: &MessageMeta, recipients: &[Address]) -> Result<Vec<u8>, String> {
    let mut out = vec![FORMAT];
    let tls = Tls(meta
        .recipients
        .iter()
        .map(|s| s.tls.map(Report::from))
        .collect());
    postcard::to_io(&State::of(meta, recipients), &mut out)
        .and_then(|out| postcard::to_io(&tls, out))
        .map_err(|e| format!("cannot encode message state: {e}"))?;
    Ok(out)
}

/// The state a state row holds, for an envelope with `recipients`; the error says why the
/// bytes are not one.
pub(crate) fn decode(bytes: &[u8], recipients: &[Address]) -> Result<MessageMeta, String> {
    let (format, encoded) = match bytes.split_first() {
        Some((&format, encoded)) if format == FORMAT || format == FORMAT_1 => (format, encoded),
        Some((other, _)) => return Err(format!("unknown state row format {other}")),
        None => return Err("empty state row".to_owned()),
    };
    let undecodable = |e: postcard::Error| format!("undecodable state row: {e}");
    let (state, mut tail) = postcard::take_from_bytes::<State>(encoded).map_err(undecodable)?;
    let mut tls = Tls(Vec::new());
    if format == FORMAT {
        (tls, tail) = postcard::take_from_bytes::<Tls>(tail).map_err(undecodable)?;
    }
    if !tail.is_empty() {
        return Err(format!("{} trailing bytes after the state row", tail.len()));
    }
    let mut meta = state.into_meta(recipients)?;
    for (status, report) in meta.recipients.iter_mut().zip(tls.0) {
        status.tls = report.map(TlsReport::from);
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn addresses() -> Vec<Address> {
        ["c@d.org", "e@f.org"]
            .iter()
            .map(|a| Address::parse(a).unwrap())
            .collect()
    }

    fn meta(recipients: &[Address]) -> MessageMeta {
        let mut meta = MessageMeta {
            attempts: 2,
            next_attempt: UNIX_EPOCH + Duration::from_secs(200),
            held: true,
            recipients: recipients
                .iter()
                .cloned()
                .map(RecipientStatus::pending)
                .collect(),
            history: MessageHistory::default(),
        };
        meta.recipients[1].state = RecipientState::Delivered;
        meta.recipients[1].last_reply = Some(Reply::with_default_code(250, "ok"));
        meta.history.attempts.push(AttemptRecord {
            at: UNIX_EPOCH + Duration::from_secs(150),
            replies: vec![AttemptReply {
                recipient: recipients[1].clone(),
                reply: Reply::with_default_code(250, "ok"),
                remote_host: Some("mx".into()),
            }],
        });
        meta
    }

    #[test]
    fn a_state_row_names_recipients_by_index_and_reads_back() {
        let recipients = addresses();
        let meta = meta(&recipients);
        let row = encode(&meta, &recipients).unwrap();
        assert_eq!(row[0], FORMAT);
        assert!(
            !row.windows(7).any(|w| w == b"c@d.org" || w == b"e@f.org"),
            "no address in the row"
        );
        assert_eq!(decode(&row, &recipients).unwrap(), meta);
    }

    #[test]
    fn tls_reports_read_back_and_format_1_rows_still_read() {
        let recipients = addresses();
        let mut meta = meta(&recipients);
        meta.recipients[1].tls = Some(TlsReport {
            policy: AppliedTls::MtaSts,
            verified: true,
        });
        let row = encode(&meta, &recipients).unwrap();
        assert_eq!(decode(&row, &recipients).unwrap(), meta);
        // A row as layout 4 wrote it: format 1, the state alone.
        let mut old = vec![FORMAT_1];
        postcard::to_io(&State::of(&meta, &recipients), &mut old).unwrap();
        let read = decode(&old, &recipients).unwrap();
        assert_eq!(read.recipients[1].tls, None);
        meta.recipients[1].tls = None;
        assert_eq!(read, meta);
    }

    #[test]
    fn a_recipient_outside_the_envelope_keeps_its_address() {
        let recipients = addresses();
        let mut meta = meta(&recipients);
        meta.recipients[0].recipient = Address::parse("x@y.org").unwrap();
        let row = encode(&meta, &recipients).unwrap();
        assert_eq!(decode(&row, &recipients).unwrap(), meta);
    }

    #[test]
    fn a_damaged_state_row_is_refused() {
        let recipients = addresses();
        let row = encode(&meta(&recipients), &recipients).unwrap();
        assert!(decode(&[], &recipients).is_err());
        assert!(decode(&[9], &recipients).unwrap_err().contains("format 9"));
        assert!(decode(&row[..row.len() - 1], &recipients).is_err());
        let mut longer = row.clone();
        longer.push(0);
        assert!(decode(&longer, &recipients).is_err());
        // An index that names no recipient of the envelope.
        assert!(decode(&row, &recipients[..1]).is_err());
    }
}
