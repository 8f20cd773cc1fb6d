//! DNS NOTIFY (RFC 1996): telling the secondaries that a zone changed, so they ask for its SOA
//! and transfer it now rather than at their next refresh.
//!
//! [`notify_message`] and [`judge_notify_answer`] are pure; [`notify`] sends over UDP and retries.
//! Targets are the operator's own secondaries from the configuration (often on a private
//! network), so unlike the nameserver check they are not limited to public addresses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use domain::base::iana::{Opcode, Rcode};
use domain::base::{Message, MessageBuilder, Rtype};
use domain::rdata::tsig::Time48;
use domain::tsig::{ClientTransaction, Key};
use tokio::time::{Instant, sleep_until, timeout_at};

use super::{connected_udp, io_reason, parse_name, random_id, rcode_name, recv_with_id};
use crate::limits;

/// Bytes read of an answer: a NOTIFY answer is a header and a question, and only the header is
/// judged, so a longer datagram cut here loses nothing that matters.
const NOTIFY_ANSWER_BYTES_MAX: usize = 512;

/// Builds the NOTIFY message: opcode NOTIFY, AA set, question `<zone> SOA IN` and no answer
/// section (RFC 1996 makes the serial optional; the secondary asks for the SOA anyway).
/// Fails only when `zone` is not a domain name.
pub fn notify_message(id: u16, zone: &str) -> Result<Vec<u8>, String> {
    let zone = parse_name(zone)?;
    let mut builder = MessageBuilder::new_vec();
    let header = builder.header_mut();
    header.set_id(id);
    header.set_opcode(Opcode::NOTIFY);
    header.set_aa(true);
    let mut question = builder.question();
    // Infallible: a `Vec` target never runs short (the builder's push limit is usize::MAX), a
    // name is at most 255 bytes, and the first question cannot overflow the 16-bit count.
    question.push((&zone, Rtype::SOA)).expect("one question always fits a Vec-backed message");
    Ok(question.finish())
}

/// Judges an answer to the NOTIFY sent with `id`: done on NOERROR, and on NOTIMP (a server that
/// does not implement NOTIFY will never act on it: retrying is pointless, RFC 1996 section 4.8).
pub fn judge_notify_answer(answer: &[u8], id: u16) -> Result<(), String> {
    let message = Message::from_octets(answer).map_err(|_| super::MALFORMED.to_string())?;
    let header = message.header();
    if header.id() != id {
        return Err("answer id does not match the query".to_string());
    }
    if !header.qr() {
        return Err("not an answer (QR clear)".to_string());
    }
    if header.opcode() != Opcode::NOTIFY {
        let opcode = header.opcode();
        let opcode_name = opcode.to_mnemonic_str().map_or_else(|| opcode.to_int().to_string(), str::to_string);
        return Err(format!("not a NOTIFY answer (opcode {opcode_name})"));
    }
    match header.rcode() {
        Rcode::NOERROR | Rcode::NOTIMP => Ok(()),
        rcode => Err(rcode_name(rcode)),
    }
}

/// Sends NOTIFY for `zone` over UDP to `target`, up to `NOTIFY_TRIES` times, waiting
/// `NOTIFY_TIMEOUT_MS` for each answer (10 s in all). Ok when the target answered NOERROR or
/// NOTIMP; Err with a short reason otherwise.
pub async fn notify(target: SocketAddr, zone: &str) -> Result<(), String> {
    notify_with(target, zone, limits::NOTIFY_TRIES, Duration::from_millis(limits::NOTIFY_TIMEOUT_MS), None).await
}

/// [`notify`] signed with a TSIG key (RFC 8945): the answer must be signed with it too.
pub async fn notify_signed(target: SocketAddr, zone: &str, key: Option<Arc<Key>>) -> Result<(), String> {
    notify_with(target, zone, limits::NOTIFY_TRIES, Duration::from_millis(limits::NOTIFY_TIMEOUT_MS), key).await
}

/// The NOTIFY message signed with `key`, and the transaction that checks the answer's signature.
fn signed_message(id: u16, zone: &str, key: Arc<Key>) -> Result<(Vec<u8>, ClientTransaction<Arc<Key>>), String> {
    let zone = parse_name(zone)?;
    let mut builder = MessageBuilder::new_vec();
    let header = builder.header_mut();
    header.set_id(id);
    header.set_opcode(Opcode::NOTIFY);
    header.set_aa(true);
    let mut question = builder.question();
    question.push((&zone, Rtype::SOA)).map_err(|_| "cannot build the NOTIFY".to_string())?;
    let mut additional = question.additional();
    let tran = ClientTransaction::request(key, &mut additional, Time48::now())
        .map_err(|_| "cannot sign the NOTIFY".to_string())?;
    Ok((additional.finish(), tran))
}

/// [`notify`] with its bounds as parameters (tests use short ones).
///
/// Every try resends the same message with the same id on the same socket, so a late answer to
/// an earlier try still counts. A definite answer (REFUSED, a wrong opcode) ends the tries at
/// once; an ICMP "port unreachable" is a failed try like a timeout, but the next try still waits
/// for the end of this one's timeout, so a server that is restarting gets the whole time.
async fn notify_with(
    target: SocketAddr,
    zone: &str,
    tries: u32,
    timeout_per_try: Duration,
    key: Option<Arc<Key>>,
) -> Result<(), String> {
    let id = random_id()?;
    let (message, tran) = match key {
        Some(k) => {
            let (m, t) = signed_message(id, zone, k)?;
            (m, Some(t))
        }
        None => (notify_message(id, zone)?, None),
    };
    let socket = connected_udp(target).await.map_err(|error| io_reason(&error))?;
    let mut buffer = vec![0u8; NOTIFY_ANSWER_BYTES_MAX];
    let mut last_reason = "no tries".to_string();
    for _ in 0..tries {
        let deadline = Instant::now() + timeout_per_try;
        let exchange = async {
            socket.send(&message).await?;
            recv_with_id(&socket, id, &mut buffer).await
        };
        match timeout_at(deadline, exchange).await {
            Ok(Ok(length)) => {
                judge_notify_answer(&buffer[..length], id)?;
                if let Some(t) = &tran {
                    let mut answer =
                        Message::from_octets(buffer[..length].to_vec()).map_err(|_| super::MALFORMED.to_string())?;
                    t.answer(&mut answer, Time48::now())
                        .map_err(|e| format!("the answer's TSIG signature does not verify ({e})"))?;
                }
                return Ok(());
            }
            Ok(Err(error)) => {
                last_reason = io_reason(&error);
                sleep_until(deadline).await;
            }
            Err(_elapsed) => last_reason = "timeout".to_string(),
        }
    }
    Err(format!("no answer after {tries} tries ({last_reason})"))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use domain::base::iana::Class;
    use tokio::net::UdpSocket;
    use tokio::task::JoinSet;

    use super::*;

    fn answer_to(query: &[u8], rcode: Rcode) -> Vec<u8> {
        let query = Message::from_octets(query).expect("query");
        let mut answer = MessageBuilder::new_vec().start_error(&query, rcode);
        answer.header_mut().set_aa(true);
        answer.finish()
    }

    #[test]
    fn message_is_a_notify() {
        let bytes = notify_message(0x1234, "Example.PT").expect("message");
        let message = Message::from_octets(bytes.as_slice()).expect("parse");
        let header = message.header();
        assert_eq!(header.id(), 0x1234);
        assert_eq!(header.opcode(), Opcode::NOTIFY);
        assert!(header.aa());
        assert!(!header.qr());
        assert!(!header.rd());
        let question = message.sole_question().expect("question");
        assert_eq!(question.qname().to_string(), "Example.PT");
        assert_eq!(question.qtype(), Rtype::SOA);
        assert_eq!(question.qclass(), Class::IN);
        assert_eq!(message.header_counts().ancount(), 0);
        assert!(notify_message(1, "a..pt").is_err());
    }

    #[test]
    fn judging_answers() {
        let query = notify_message(77, "pt").expect("message");
        assert_eq!(judge_notify_answer(&answer_to(&query, Rcode::NOERROR), 77), Ok(()));
        assert_eq!(judge_notify_answer(&answer_to(&query, Rcode::NOTIMP), 77), Ok(()));
        assert_eq!(judge_notify_answer(&answer_to(&query, Rcode::REFUSED), 77), Err("REFUSED".to_string()));
        assert_eq!(
            judge_notify_answer(&answer_to(&query, Rcode::NOERROR), 78),
            Err("answer id does not match the query".to_string())
        );
        assert_eq!(judge_notify_answer(&query, 77), Err("not an answer (QR clear)".to_string()));
        let mut plain_query = answer_to(&query, Rcode::NOERROR);
        // Opcode bits 3-6 of byte 2: QUERY (0) instead of NOTIFY (4), QR kept.
        plain_query[2] &= 0x87;
        assert_eq!(judge_notify_answer(&plain_query, 77), Err("not a NOTIFY answer (opcode QUERY)".to_string()));
        assert_eq!(judge_notify_answer(&[0, 77], 77), Err(super::super::MALFORMED.to_string()));
    }

    /// A secondary on loopback answering every NOTIFY with `rcode`, or never when None.
    async fn secondary(rcode: Option<Rcode>) -> (SocketAddr, JoinSet<()>) {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
        let address = socket.local_addr().expect("address");
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut buffer = [0u8; 512];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
                if let Some(rcode) = rcode {
                    let _ = socket.send_to(&answer_to(&buffer[..length], rcode), peer).await;
                }
            }
        });
        (address, tasks)
    }

    #[tokio::test]
    async fn noerror_and_notimp_are_done() {
        for rcode in [Rcode::NOERROR, Rcode::NOTIMP] {
            let (target, _task) = secondary(Some(rcode)).await;
            assert_eq!(notify(target, "example.pt").await, Ok(()));
        }
        let (target, _task) = secondary(Some(Rcode::REFUSED)).await;
        assert_eq!(notify(target, "example.pt").await, Err("REFUSED".to_string()));
    }

    #[tokio::test]
    async fn silence_fails_after_the_tries() {
        let (target, _task) = secondary(None).await;
        let started = std::time::Instant::now();
        let outcome = notify_with(target, "example.pt", 3, Duration::from_millis(100), None).await;
        let elapsed_ms = started.elapsed().as_millis();
        assert_eq!(outcome, Err("no answer after 3 tries (timeout)".to_string()));
        assert!((290..1_000).contains(&elapsed_ms), "took {elapsed_ms} ms");
    }

    #[tokio::test]
    async fn closed_port_fails_after_the_tries() {
        // Bind then drop, so that nobody listens on the port.
        let target = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind").local_addr().expect("address");
        let outcome = notify_with(target, "example.pt", 2, Duration::from_millis(50), None).await;
        assert_eq!(outcome, Err("no answer after 2 tries (connection refused)".to_string()));
    }
}
