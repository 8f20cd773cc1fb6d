//! DNS on the wire: the pre-delegation nameserver check (`check`) and NOTIFY to the secondaries
//! (`notify`), built on NLnet Labs' `domain` crate for messages and `tokio` for sockets.
//!
//! Each part is split in two: pure protocol code that builds a message or judges an answer (bytes
//! in, a verdict out, unit-tested with crafted messages) and thin socket code around it. The
//! socket code is bounded everywhere, because the servers it talks to are chosen by registrars
//! and may be silent, slow, lame or hostile: every query has a timeout, a check of one domain has
//! a total budget, an answer is read into a buffer of a fixed size, and queries in flight are
//! limited by a semaphore shared by all checks. The nameserver check never sends a packet to an
//! address that is not global unicast ([`is_public`]); loopback only when a test allows it.

pub mod book;
pub mod check;
pub mod notify;
pub mod server;
pub mod xfr;

use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::Poll;

use domain::base::iana::Rcode;
use domain::base::{MessageBuilder, Name, Rtype};
use tokio::net::UdpSocket;

/// A domain name owned in a `Vec`: what this module builds queries from and compares against.
pub type OwnedName = Name<Vec<u8>>;

/// Reason given when an answer cannot be parsed (too short, a bad record, a bad name).
pub(crate) const MALFORMED: &str = "malformed answer";

/// Parses a host or zone name (A-labels, with or without the final dot) into a DNS name.
pub fn parse_name(text: &str) -> Result<OwnedName, String> {
    if text.is_empty() {
        return Err("empty domain name".to_string());
    }
    Name::vec_from_str(text).map_err(|error| format!("{text:?} is not a domain name: {error}"))
}

/// Builds a standard query (opcode QUERY) with one question `name rtype IN`.
///
/// `recursion_desired` is false for the nameserver check (RD=0: the server must answer from its
/// own data) and true for the resolver that finds the addresses of hosts without glue.
pub fn query_message(id: u16, name: &OwnedName, rtype: Rtype, recursion_desired: bool) -> Vec<u8> {
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    builder.header_mut().set_rd(recursion_desired);
    let mut question = builder.question();
    // Infallible: a `Vec` target never runs short (the builder's push limit is usize::MAX), a
    // name is at most 255 bytes, and the first question cannot overflow the 16-bit count.
    question.push((name, rtype)).expect("one question always fits a Vec-backed message");
    question.finish()
}

/// The name of a response code as operators know it ("REFUSED", "SERVFAIL"), or `RCODE<n>`.
pub fn rcode_name(rcode: Rcode) -> String {
    match rcode.to_mnemonic_str() {
        Some(name) => name.to_string(),
        None => format!("RCODE{}", rcode.to_int()),
    }
}

/// Whether an address is global unicast, the only kind the nameserver check may send to.
///
/// A registrar chooses the glue, so this is what keeps the registry from probing its own
/// network (or a test machine's) on a registrar's behalf. [`not_public`] lists what is left out.
/// Loopback is never public: callers that allow it (tests) say so separately.
pub fn is_public(ip: &IpAddr) -> bool {
    not_public(ip).is_none()
}

/// The address space that keeps `ip` off the public Internet, named for an error message, or
/// `None` for a global unicast address. IPv4: this network (0/8), private (10/8, 172.16/12,
/// 192.168/16), shared (100.64/10), loopback, link-local, IETF assignments (192.0.0/24),
/// documentation, benchmarking (198.18/15), multicast and 240/4 with the broadcast address.
/// IPv6: only 2000::/3 is public, without documentation (2001:db8::/32, 3fff::/20), IETF
/// assignments (2001::/23) and 6to4 (2002::/16, which carries an IPv4 address of any kind);
/// this also rules out IPv4-mapped addresses, which a dual-stack socket would send over IPv4.
pub fn not_public(ip: &IpAddr) -> Option<NotPublic> {
    match ip {
        IpAddr::V4(v4) => not_public_v4(*v4),
        IpAddr::V6(v6) => not_public_v6(*v6),
    }
}

/// Why an address is not public: its range, and whether it is a documentation range (which a
/// lab's policy may allow as glue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotPublic {
    /// The address space, with its prefix: "private address space (10.0.0.0/8)".
    pub range: &'static str,
    pub documentation: bool,
}

const fn np(range: &'static str) -> Option<NotPublic> {
    Some(NotPublic { range, documentation: false })
}

const fn doc(range: &'static str) -> Option<NotPublic> {
    Some(NotPublic { range, documentation: true })
}

fn not_public_v4(ip: Ipv4Addr) -> Option<NotPublic> {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, _, _) => np("\"this network\" (0.0.0.0/8)"),
        (10, _, _) => np("private address space (10.0.0.0/8)"),
        (100, 64..=127, _) => np("shared address space (100.64.0.0/10)"),
        (127, _, _) => np("loopback (127.0.0.0/8)"),
        (169, 254, _) => np("link-local address space (169.254.0.0/16)"),
        (172, 16..=31, _) => np("private address space (172.16.0.0/12)"),
        (192, 0, 0) => np("IETF protocol assignments (192.0.0.0/24)"),
        (192, 0, 2) => doc("documentation (192.0.2.0/24)"),
        (192, 168, _) => np("private address space (192.168.0.0/16)"),
        (198, 18..=19, _) => np("benchmarking (198.18.0.0/15)"),
        (198, 51, 100) => doc("documentation (198.51.100.0/24)"),
        (203, 0, 113) => doc("documentation (203.0.113.0/24)"),
        (224..=239, _, _) => np("multicast (224.0.0.0/4)"),
        (240..=255, _, _) => np("reserved address space (240.0.0.0/4)"),
        _ => None,
    }
}

fn not_public_v6(ip: Ipv6Addr) -> Option<NotPublic> {
    let [first, second, ..] = ip.segments();
    if ip.is_unspecified() {
        np("the unspecified address (::)")
    } else if ip.is_loopback() {
        np("loopback (::1)")
    } else if ip.to_ipv4_mapped().is_some() {
        np("IPv4-mapped address space (::ffff:0:0/96)")
    } else if (first & 0xfe00) == 0xfc00 {
        np("unique local address space (fc00::/7)")
    } else if (first & 0xffc0) == 0xfe80 {
        np("link-local address space (fe80::/10)")
    } else if (first & 0xff00) == 0xff00 {
        np("multicast (ff00::/8)")
    } else if first == 0x2001 && second == 0x0db8 {
        doc("documentation (2001:db8::/32)")
    } else if first == 0x3fff && (second & 0xf000) == 0 {
        doc("documentation (3fff::/20)")
    } else if first == 0x2001 && second < 0x0200 {
        np("IETF protocol assignments (2001::/23)")
    } else if first == 0x2002 {
        np("6to4 (2002::/16)")
    } else if (first & 0xe000) != 0x2000 {
        np("address space outside global unicast (2000::/3)")
    } else {
        None
    }
}

/// A random query id, so that an off-path attacker cannot guess the answer to forge.
pub(crate) fn random_id() -> Result<u16, String> {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).map_err(|error| format!("no random query id: {error}"))?;
    Ok(u16::from_be_bytes(bytes))
}

/// A UDP socket of the target's family on an ephemeral port, connected to the target, so that
/// datagrams from anyone else are dropped by the kernel and an ICMP port unreachable shows up as
/// `ConnectionRefused`.
pub(crate) async fn connected_udp(target: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    Ok(socket)
}

/// Receives datagrams until one carries `id`, and returns its length; others (late answers to an
/// earlier id, garbage) are dropped. The caller bounds the wait with a timeout.
pub(crate) async fn recv_with_id(socket: &UdpSocket, id: u16, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        let length = socket.recv(buffer).await?;
        if length >= 2 && u16::from_be_bytes([buffer[0], buffer[1]]) == id {
            return Ok(length);
        }
    }
}

/// A short reason for a socket error: "connection refused", "connection reset", ...
pub(crate) fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::UnexpectedEof => "connection closed before the answer".to_string(),
        kind => kind.to_string(),
    }
}

/// Polls every future to completion inside the calling task and returns their outputs in the
/// order given. The check's queries borrow the caller's settings and semaphore, which spawned
/// tasks could not; running them in one task also means dropping the check cancels them all.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    poll_fn(|context| {
        let mut all_done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::base::Message;
    use domain::base::iana::{Class, Opcode};

    #[test]
    fn public_addresses() {
        let table: &[(&str, bool)] = &[
            ("193.136.0.1", true),
            ("8.8.8.8", true),
            ("0.1.2.3", false),
            ("10.0.0.1", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("100.128.0.1", true),
            ("127.0.0.1", false),
            ("169.254.1.1", false),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("198.20.0.1", true),
            ("224.0.0.1", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("0.0.0.0", false),
            ("2001:690::1", true),
            ("2a00:1450::1", true),
            ("::", false),
            ("::1", false),
            ("::ffff:8.8.8.8", false),
            ("::ffff:127.0.0.1", false),
            ("64:ff9b::808:808", false),
            ("2001:db8::1", false),
            ("3fff::1", false),
            ("2001::1", false),
            ("2002:a00:1::1", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("fe80::1", false),
            ("ff02::1", false),
        ];
        for (text, expected) in table {
            let ip: IpAddr = text.parse().expect("test address");
            assert_eq!(is_public(&ip), *expected, "{text}");
        }
    }

    #[test]
    fn query_has_id_rd_and_question() {
        let name = parse_name("Example.PT").expect("name");
        for recursion_desired in [false, true] {
            let bytes = query_message(0xbeef, &name, Rtype::SOA, recursion_desired);
            let message = Message::from_octets(bytes.as_slice()).expect("message");
            let header = message.header();
            assert_eq!(header.id(), 0xbeef);
            assert!(!header.qr());
            assert_eq!(header.opcode(), Opcode::QUERY);
            assert_eq!(header.rd(), recursion_desired);
            let question = message.sole_question().expect("question");
            assert_eq!(question.qtype(), Rtype::SOA);
            assert_eq!(question.qclass(), Class::IN);
            assert_eq!(question.qname().to_string(), "Example.PT");
        }
    }

    #[test]
    fn names() {
        assert!(parse_name("example.pt").is_ok());
        assert!(parse_name("example.pt.").is_ok());
        assert!(parse_name("").is_err());
        assert!(parse_name("a..b").is_err());
        assert!(parse_name(&format!("{}.pt", "a".repeat(64))).is_err());
    }

    #[test]
    fn rcode_names() {
        assert_eq!(rcode_name(Rcode::REFUSED), "REFUSED");
        assert_eq!(rcode_name(Rcode::SERVFAIL), "SERVFAIL");
        assert_eq!(rcode_name(Rcode::NXDOMAIN), "NXDOMAIN");
    }

    #[tokio::test]
    async fn join_all_keeps_order() {
        let delays_ms = [30u64, 10, 20, 0];
        let futures = delays_ms
            .iter()
            .map(|delay_ms| async move {
                tokio::time::sleep(std::time::Duration::from_millis(*delay_ms)).await;
                *delay_ms
            })
            .collect();
        assert_eq!(join_all(futures).await, delays_ms);
    }
}
