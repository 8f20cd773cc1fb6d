//! The pre-delegation nameserver check (POLICY.md "Nameserver check", DNS.md "Nameserver check").
//!
//! Every address of every nameserver of a domain is asked `SOA <domain>` with RD=0, once over UDP
//! and, separately, over TCP (RFC 7766 makes TCP mandatory). A query passes when the answer is
//! for the query (id, QR, question), NOERROR, authoritative (AA) and holds the domain's SOA in the
//! answer section. Hosts without glue are resolved through the configured resolver. Addresses
//! that are not global unicast are never sent a packet. [`judge_soa_answer`] and
//! [`judge_address_answer`] are the pure part; the rest moves bytes within the bounds of
//! [`CheckSettings`] and the caller's semaphore.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use domain::base::iana::{Class, Rcode};
use domain::base::name::ParsedName;
use domain::base::{Message, Rtype, ToName};
use domain::rdata::{A, Aaaa, Soa};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};

use super::{MALFORMED, OwnedName, connected_udp, io_reason, is_public, join_all, parse_name, query_message};
use super::{random_id, rcode_name, recv_with_id};
use crate::limits;
use crate::model::{Nameserver, ServerCheck, Transport};

/// Reason of a passing query.
pub const OK: &str = "ok";
/// Reason of a query that waited past its timeout (both UDP tries, or the TCP exchange).
pub const TIMEOUT: &str = "timeout";
/// Reason of a query still waiting (for a permit or an answer) when the domain's budget ran out.
pub const BUDGET_EXHAUSTED: &str = "check time budget exhausted";
/// Reason of an answer longer than `CheckSettings::answer_bytes_max`.
pub const TOO_LARGE: &str = "answer too large";

/// UDP tries per query: the first and one retry after a timeout (with a new id).
const UDP_TRIES: u32 = 2;

/// The bounds and targets of a check; production takes the limits from `crate::limits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    /// Port queried on every nameserver address (53 in production; tests use a high port).
    pub port: u16,
    /// Where hosts without glue are resolved (A and AAAA, RD=1); None: such hosts fail.
    pub resolver: Option<SocketAddr>,
    /// Tests only: allow querying 127.0.0.0/8 and `::1`.
    pub allow_loopback: bool,
    /// Wait for one answer (one UDP try, or the whole TCP exchange).
    pub query_timeout_ms: u64,
    /// Wait for the whole check of one domain, resolution included.
    pub domain_budget_ms: u64,
    /// Bytes of an answer read, over UDP and TCP.
    pub answer_bytes_max: usize,
}

impl CheckSettings {
    /// Settings with the production bounds of `crate::limits`.
    pub fn new(port: u16, resolver: Option<SocketAddr>, allow_loopback: bool) -> Self {
        CheckSettings {
            port,
            resolver,
            allow_loopback,
            query_timeout_ms: limits::NS_CHECK_QUERY_TIMEOUT_MS,
            domain_budget_ms: limits::NS_CHECK_DOMAIN_BUDGET_MS,
            answer_bytes_max: limits::NS_CHECK_ANSWER_BYTES_MAX,
        }
    }

    fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.query_timeout_ms)
    }

    /// Whether the check may send a packet to `ip` at all.
    fn may_query(&self, ip: &IpAddr) -> bool {
        is_public(ip) || (self.allow_loopback && ip.is_loopback())
    }
}

/// Checks one domain's nameservers: every address of every host, SOA <domain> with RD=0 over UDP
/// and, separately, over TCP.
///
/// Results come in the order of the hosts given, then of their addresses, UDP before TCP. A host
/// without a usable address gives one failing entry without address; an address that may not be
/// queried gives one failing entry without transport. All queries of the domain run at once, each
/// holding one of `permits` while in flight, and none outlives `settings.domain_budget_ms`.
pub async fn check_domain(
    domain: &str,
    nameservers: &[Nameserver],
    settings: &CheckSettings,
    permits: &Semaphore,
) -> Vec<ServerCheck> {
    let deadline = Instant::now() + Duration::from_millis(settings.domain_budget_ms);
    let domain_name = match parse_name(domain) {
        Ok(name) => name,
        Err(reason) => {
            return nameservers.iter().map(|host| failure(&host.name, None, None, reason.clone())).collect();
        }
    };
    let bounds = Bounds { settings, permits, deadline };
    let hosts = nameservers.iter().map(|host| check_host(&domain_name, host, &bounds)).collect();
    join_all(hosts).await.into_iter().flatten().collect()
}

/// True iff there is at least one result and every one passed (a host with no usable address
/// counts as a failing entry).
pub fn passed(results: &[ServerCheck]) -> bool {
    !results.is_empty() && results.iter().all(|result| result.ok)
}

/// Judges an answer to `SOA <domain>` sent with `id`: Ok when it passes, else a short reason.
///
/// Checked in this order, so the reason names the first thing wrong: the id, QR, the response
/// code (a REFUSED answer often carries no question), the question (name case-insensitively, SOA,
/// IN), TC without the SOA (UDP: the answer did not fit), AA, and an SOA in the answer section
/// whose owner is the domain (an SOA of a parent or child zone means the server holds another
/// zone).
pub fn judge_soa_answer(answer: &[u8], id: u16, domain: &OwnedName) -> Result<(), String> {
    let message = parse_answer(answer, id)?;
    let header = message.header();
    expect_question(&message, domain, Rtype::SOA)?;
    let mut has_soa = false;
    let records = message.answer().map_err(|_| MALFORMED.to_string())?;
    for record in records.limit_to_in::<Soa<ParsedName<_>>>() {
        let record = record.map_err(|_| MALFORMED.to_string())?;
        has_soa |= record.owner().name_eq(domain);
    }
    if header.tc() && !has_soa {
        return Err("truncated".to_string());
    }
    if !header.aa() {
        return Err("not authoritative (no AA)".to_string());
    }
    if !has_soa {
        return Err(format!("no SOA for {domain} in the answer"));
    }
    Ok(())
}

/// Judges a resolver's answer to `<host> A` or `<host> AAAA` (`rtype`) sent with `id`: the
/// addresses of the host, following CNAMEs within the answer, or a short reason (an rcode name,
/// or a reason of [`judge_soa_answer`]'s kind). NOERROR without addresses gives an empty list.
pub fn judge_address_answer(answer: &[u8], id: u16, host: &OwnedName, rtype: Rtype) -> Result<Vec<IpAddr>, String> {
    let message = parse_answer(answer, id)?;
    expect_question(&message, host, rtype)?;
    if message.header().tc() {
        return Err("truncated".to_string());
    }
    let canonical = message.canonical_name().ok_or_else(|| MALFORMED.to_string())?;
    let records = message.answer().map_err(|_| MALFORMED.to_string())?;
    let mut addresses = Vec::new();
    if rtype == Rtype::AAAA {
        for record in records.limit_to_in::<Aaaa>() {
            let record = record.map_err(|_| MALFORMED.to_string())?;
            if record.owner().name_eq(&canonical) {
                addresses.push(IpAddr::V6(record.data().addr()));
            }
        }
    } else {
        for record in records.limit_to_in::<A>() {
            let record = record.map_err(|_| MALFORMED.to_string())?;
            if record.owner().name_eq(&canonical) {
                addresses.push(IpAddr::V4(record.data().addr()));
            }
        }
    }
    Ok(addresses)
}

/// The header checks every answer must pass: parses, same id, QR set, NOERROR.
fn parse_answer(answer: &[u8], id: u16) -> Result<Message<&[u8]>, String> {
    let message = Message::from_octets(answer).map_err(|_| MALFORMED.to_string())?;
    let header = message.header();
    if header.id() != id {
        return Err("answer id does not match the query".to_string());
    }
    if !header.qr() {
        return Err("not an answer (QR clear)".to_string());
    }
    if header.rcode() != Rcode::NOERROR {
        return Err(rcode_name(header.rcode()));
    }
    Ok(message)
}

/// The answer must repeat exactly the one question asked.
fn expect_question(message: &Message<&[u8]>, name: &OwnedName, rtype: Rtype) -> Result<(), String> {
    let question = message.sole_question().map_err(|_| "answer is for another question".to_string())?;
    if !question.qname().name_eq(name) || question.qtype() != rtype || question.qclass() != Class::IN {
        return Err("answer is for another question".to_string());
    }
    Ok(())
}

/// What every query of one domain's check shares.
struct Bounds<'a> {
    settings: &'a CheckSettings,
    permits: &'a Semaphore,
    deadline: Instant,
}

impl Bounds<'_> {
    /// Runs one query holding a permit, and gives up at the domain's deadline.
    async fn run<T>(&self, query: impl Future<Output = Result<T, String>>) -> Result<T, String> {
        let with_permit = async {
            let _permit = self.permits.acquire().await.map_err(|_| "check stopped".to_string())?;
            query.await
        };
        timeout_at(self.deadline, with_permit).await.unwrap_or_else(|_| Err(BUDGET_EXHAUSTED.to_string()))
    }
}

async fn check_host(domain: &OwnedName, host: &Nameserver, bounds: &Bounds<'_>) -> Vec<ServerCheck> {
    let addresses = if host.addresses.is_empty() {
        match resolve(&host.name, bounds).await {
            Ok(addresses) => addresses,
            Err(reason) => return vec![failure(&host.name, None, None, reason)],
        }
    } else {
        host.addresses.clone()
    };
    let queries = addresses.iter().map(|address| check_address(domain, &host.name, *address, bounds)).collect();
    join_all(queries).await.into_iter().flatten().collect()
}

/// The UDP and TCP results of one address, or one failing entry when it may not be queried.
async fn check_address(domain: &OwnedName, host: &str, address: IpAddr, bounds: &Bounds<'_>) -> Vec<ServerCheck> {
    if !bounds.settings.may_query(&address) {
        let reason = format!("{address} is not a public address; not queried");
        return vec![failure(host, Some(address), None, reason)];
    }
    let server = SocketAddr::new(address, bounds.settings.port);
    let (udp, tcp) = tokio::join!(
        bounds.run(query_soa_udp(server, domain, bounds.settings)),
        bounds.run(query_soa_tcp(server, domain, bounds.settings))
    );
    vec![entry(host, address, Transport::Udp, udp), entry(host, address, Transport::Tcp, tcp)]
}

async fn query_soa_udp(server: SocketAddr, domain: &OwnedName, settings: &CheckSettings) -> Result<(), String> {
    let (id, answer) = udp_exchange(server, settings, |id| query_message(id, domain, Rtype::SOA, false)).await?;
    judge_soa_answer(&answer, id, domain)
}

async fn query_soa_tcp(server: SocketAddr, domain: &OwnedName, settings: &CheckSettings) -> Result<(), String> {
    let id = random_id()?;
    let answer = tcp_exchange(server, &query_message(id, domain, Rtype::SOA, false), settings).await?;
    judge_soa_answer(&answer, id, domain)
}

/// Finds a glue-less host's addresses through the resolver: A and AAAA at once, at most
/// `ADDRESSES_PER_NAMESERVER_MAX` of them, without repeats. One of the two failing is fine
/// when the other gave addresses.
async fn resolve(host: &str, bounds: &Bounds<'_>) -> Result<Vec<IpAddr>, String> {
    let Some(resolver) = bounds.settings.resolver else {
        return Err(format!("no resolver configured for {host} (no glue)"));
    };
    let name = parse_name(host).map_err(|reason| format!("cannot resolve {host}: {reason}"))?;
    let (v4, v6) = tokio::join!(
        bounds.run(query_addresses(resolver, &name, Rtype::A, bounds.settings)),
        bounds.run(query_addresses(resolver, &name, Rtype::AAAA, bounds.settings)),
    );
    let found = match (v4, v6) {
        (Ok(mut v4), Ok(v6)) => {
            v4.extend(v6);
            v4
        }
        (Ok(found), Err(reason)) | (Err(reason), Ok(found)) if found.is_empty() => {
            return Err(format!("cannot resolve {host}: {reason}"));
        }
        (Ok(found), Err(_)) | (Err(_), Ok(found)) => found,
        (Err(reason), Err(_)) => return Err(format!("cannot resolve {host}: {reason}")),
    };
    let mut addresses: Vec<IpAddr> = Vec::new();
    for address in found {
        if !addresses.contains(&address) && addresses.len() < limits::ADDRESSES_PER_NAMESERVER_MAX {
            addresses.push(address);
        }
    }
    if addresses.is_empty() {
        return Err(format!("cannot resolve {host}: no address"));
    }
    Ok(addresses)
}

async fn query_addresses(
    resolver: SocketAddr,
    host: &OwnedName,
    rtype: Rtype,
    settings: &CheckSettings,
) -> Result<Vec<IpAddr>, String> {
    let (id, answer) = udp_exchange(resolver, settings, |id| query_message(id, host, rtype, true)).await?;
    judge_address_answer(&answer, id, host, rtype)
}

/// Sends a query over UDP and waits for the datagram with its id, each try bounded by the query
/// timeout; after a timeout, one more try with a new id. Returns the id of the answered try and
/// the answer. The buffer holds one byte more than allowed, to tell a datagram of exactly the
/// limit from a longer one the kernel cut.
async fn udp_exchange(
    server: SocketAddr,
    settings: &CheckSettings,
    query_for: impl Fn(u16) -> Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    let socket = connected_udp(server).await.map_err(|error| io_reason(&error))?;
    let mut buffer = vec![0u8; settings.answer_bytes_max.saturating_add(1)];
    for _ in 0..UDP_TRIES {
        let id = random_id()?;
        socket.send(&query_for(id)).await.map_err(|error| io_reason(&error))?;
        match timeout(settings.query_timeout(), recv_with_id(&socket, id, &mut buffer)).await {
            // A timeout: the loop sends the next try, with a new id.
            Err(_elapsed) => {}
            Ok(Err(error)) => return Err(io_reason(&error)),
            Ok(Ok(length)) if length > settings.answer_bytes_max => return Err(TOO_LARGE.to_string()),
            Ok(Ok(length)) => {
                buffer.truncate(length);
                return Ok((id, buffer));
            }
        }
    }
    Err(TIMEOUT.to_string())
}

/// Sends a query over TCP with the 2-byte length framing of RFC 7766 and reads one answer; the
/// whole exchange (connect, write, read) is bounded by the query timeout, and a length above the
/// limit is refused before anything is read.
async fn tcp_exchange(server: SocketAddr, query: &[u8], settings: &CheckSettings) -> Result<Vec<u8>, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await.map_err(|error| io_reason(&error))?;
        // A query is one question of at most 255 bytes of name plus 16 bytes: it fits a u16.
        let length = u16::try_from(query.len()).map_err(|_| "query too large".to_string())?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(query);
        stream.write_all(&framed).await.map_err(|error| io_reason(&error))?;
        let answer_length = usize::from(stream.read_u16().await.map_err(|error| io_reason(&error))?);
        if answer_length > settings.answer_bytes_max {
            return Err(TOO_LARGE.to_string());
        }
        let mut answer = vec![0u8; answer_length];
        stream.read_exact(&mut answer).await.map_err(|error| io_reason(&error))?;
        Ok(answer)
    };
    timeout(settings.query_timeout(), exchange).await.unwrap_or_else(|_| Err(TIMEOUT.to_string()))
}

fn entry(host: &str, address: IpAddr, transport: Transport, outcome: Result<(), String>) -> ServerCheck {
    let (ok, reason) = match outcome {
        Ok(()) => (true, OK.to_string()),
        Err(reason) => (false, reason),
    };
    ServerCheck { host: host.to_string(), address: Some(address), transport: Some(transport), ok, reason }
}

fn failure(host: &str, address: Option<IpAddr>, transport: Option<Transport>, reason: String) -> ServerCheck {
    ServerCheck { host: host.to_string(), address, transport, ok: false, reason }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use domain::base::{MessageBuilder, Serial, Ttl};
    use domain::rdata::Cname;
    use tokio::net::{TcpListener, UdpSocket};
    use tokio::task::JoinSet;

    use super::*;

    const DOMAIN: &str = "example.pt";

    fn name(text: &str) -> OwnedName {
        parse_name(text).expect("test name")
    }

    fn soa() -> Soa<OwnedName> {
        let refresh = Ttl::from_secs(3_600);
        Soa::new(name("ns1.example.net"), name("hostmaster.example.net"), Serial(1), refresh, refresh, refresh, refresh)
    }

    /// An answer to `qname SOA` as a test wants it.
    struct Crafted<'a> {
        id: u16,
        qr: bool,
        qname: &'a str,
        qtype: Rtype,
        rcode: Rcode,
        aa: bool,
        tc: bool,
        soa_owner: Option<&'a str>,
    }

    impl Default for Crafted<'_> {
        fn default() -> Self {
            Crafted {
                id: 7,
                qr: true,
                qname: DOMAIN,
                qtype: Rtype::SOA,
                rcode: Rcode::NOERROR,
                aa: true,
                tc: false,
                soa_owner: Some(DOMAIN),
            }
        }
    }

    impl Crafted<'_> {
        fn bytes(&self) -> Vec<u8> {
            let mut builder = MessageBuilder::new_vec();
            let header = builder.header_mut();
            header.set_id(self.id);
            header.set_qr(self.qr);
            header.set_rcode(self.rcode);
            header.set_aa(self.aa);
            header.set_tc(self.tc);
            let mut question = builder.question();
            question.push((name(self.qname), self.qtype)).expect("question");
            let mut answer = question.answer();
            if let Some(owner) = self.soa_owner {
                answer.push((name(owner), 3_600, soa())).expect("record");
            }
            answer.finish()
        }

        fn judge(&self) -> Result<(), String> {
            judge_soa_answer(&self.bytes(), 7, &name(DOMAIN))
        }
    }

    #[test]
    fn judging_soa_answers() {
        let fail = |reason: &str| Err(reason.to_string());
        assert_eq!(Crafted::default().judge(), Ok(()));
        assert_eq!(
            Crafted { qname: "EXAMPLE.Pt", soa_owner: Some("Example.PT"), ..Default::default() }.judge(),
            Ok(())
        );
        assert_eq!(Crafted { aa: false, ..Default::default() }.judge(), fail("not authoritative (no AA)"));
        assert_eq!(Crafted { rcode: Rcode::REFUSED, soa_owner: None, ..Default::default() }.judge(), fail("REFUSED"));
        assert_eq!(Crafted { rcode: Rcode::SERVFAIL, ..Default::default() }.judge(), fail("SERVFAIL"));
        assert_eq!(Crafted { id: 8, ..Default::default() }.judge(), fail("answer id does not match the query"));
        assert_eq!(Crafted { qr: false, ..Default::default() }.judge(), fail("not an answer (QR clear)"));
        assert_eq!(
            Crafted { soa_owner: None, ..Default::default() }.judge(),
            fail("no SOA for example.pt in the answer")
        );
        assert_eq!(
            Crafted { soa_owner: Some("pt"), ..Default::default() }.judge(),
            fail("no SOA for example.pt in the answer")
        );
        assert_eq!(
            Crafted { soa_owner: Some("sub.example.pt"), ..Default::default() }.judge(),
            fail("no SOA for example.pt in the answer")
        );
        assert_eq!(Crafted { tc: true, soa_owner: None, ..Default::default() }.judge(), fail("truncated"));
        // The SOA made it into a truncated answer: what was cut is not needed.
        assert_eq!(Crafted { tc: true, ..Default::default() }.judge(), Ok(()));
        assert_eq!(
            Crafted { qname: "example.com", ..Default::default() }.judge(),
            fail("answer is for another question")
        );
        assert_eq!(Crafted { qtype: Rtype::NS, ..Default::default() }.judge(), fail("answer is for another question"));
        assert_eq!(judge_soa_answer(&[0, 7, 0x84], 7, &name(DOMAIN)), fail(MALFORMED));
        let mut cut = Crafted::default().bytes();
        cut.truncate(cut.len() - 5);
        assert_eq!(judge_soa_answer(&cut, 7, &name(DOMAIN)), fail(MALFORMED));
    }

    fn address_answer(rcode: Rcode, records: &[(&str, IpAddr)], cname: Option<(&str, &str)>) -> Vec<u8> {
        let mut builder = MessageBuilder::new_vec();
        builder.header_mut().set_id(9);
        builder.header_mut().set_qr(true);
        builder.header_mut().set_rcode(rcode);
        let mut question = builder.question();
        question.push((name("ns1.example.net"), Rtype::A)).expect("question");
        let mut answer = question.answer();
        if let Some((owner, target)) = cname {
            answer.push((name(owner), 300, Cname::new(name(target)))).expect("cname");
        }
        for (owner, address) in records {
            match address {
                IpAddr::V4(v4) => answer.push((name(owner), 300, A::new(*v4))).expect("a"),
                IpAddr::V6(v6) => answer.push((name(owner), 300, Aaaa::new(*v6))).expect("aaaa"),
            }
        }
        answer.finish()
    }

    #[test]
    fn judging_address_answers() {
        let host = name("ns1.example.net");
        let one: IpAddr = "193.136.0.1".parse().expect("ip");
        let two: IpAddr = "193.136.0.2".parse().expect("ip");
        let judge = |bytes: Vec<u8>| judge_address_answer(&bytes, 9, &host, Rtype::A);
        let both = address_answer(Rcode::NOERROR, &[("ns1.example.net", one), ("NS1.example.net", two)], None);
        assert_eq!(judge(both), Ok(vec![one, two]));
        let other_owner = address_answer(Rcode::NOERROR, &[("ns2.example.net", one)], None);
        assert_eq!(judge(other_owner), Ok(vec![]));
        let aliased =
            address_answer(Rcode::NOERROR, &[("real.example.net", one)], Some(("ns1.example.net", "real.example.net")));
        assert_eq!(judge(aliased), Ok(vec![one]));
        assert_eq!(judge(address_answer(Rcode::NXDOMAIN, &[], None)), Err("NXDOMAIN".to_string()));
        // An AAAA record in the answer to an A query is not an address of this query.
        let v6: IpAddr = "2001:690::1".parse().expect("ip");
        assert_eq!(judge(address_answer(Rcode::NOERROR, &[("ns1.example.net", v6)], None)), Ok(vec![]));
        let bytes = address_answer(Rcode::NOERROR, &[("ns1.example.net", one)], None);
        assert_eq!(
            judge_address_answer(&bytes, 9, &host, Rtype::AAAA),
            Err("answer is for another question".to_string())
        );
    }

    #[test]
    fn passing() {
        let entry = |ok| ServerCheck {
            host: "ns1.example.net".to_string(),
            address: None,
            transport: None,
            ok,
            reason: String::new(),
        };
        assert!(!passed(&[]));
        assert!(passed(&[entry(true), entry(true)]));
        assert!(!passed(&[entry(true), entry(false)]));
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Behavior {
        Authoritative,
        Refused,
        Lame,
        Silent,
        Oversized,
    }

    /// Test servers on one port, one behaviour per loopback address; 127.0.0.6 has none there.
    const BEHAVIORS: [(Ipv4Addr, Behavior); 5] = [
        (Ipv4Addr::new(127, 0, 0, 1), Behavior::Authoritative),
        (Ipv4Addr::new(127, 0, 0, 2), Behavior::Refused),
        (Ipv4Addr::new(127, 0, 0, 3), Behavior::Lame),
        (Ipv4Addr::new(127, 0, 0, 4), Behavior::Silent),
        (Ipv4Addr::new(127, 0, 0, 5), Behavior::Oversized),
    ];
    const NOBODY: &str = "127.0.0.6";
    /// Test settings: the oversized server sends more than this.
    const TEST_ANSWER_BYTES_MAX: usize = 512;

    fn ip(behavior: Behavior) -> IpAddr {
        let found = BEHAVIORS.iter().find(|(_, b)| *b == behavior).expect("behaviour");
        IpAddr::V4(found.0)
    }

    fn respond(query: &[u8], behavior: Behavior) -> Option<Vec<u8>> {
        let query = Message::from_octets(query).ok()?;
        match behavior {
            Behavior::Silent => None,
            Behavior::Refused => Some(MessageBuilder::new_vec().start_error(&query, Rcode::REFUSED).finish()),
            Behavior::Authoritative | Behavior::Lame => {
                let mut answer = MessageBuilder::new_vec().start_answer(&query, Rcode::NOERROR).ok()?;
                answer.header_mut().set_aa(behavior == Behavior::Authoritative);
                let qname = query.first_question()?.into_qname();
                answer.push((qname, 3_600, soa())).ok()?;
                Some(answer.finish())
            }
            Behavior::Oversized => {
                let mut big = vec![0u8; TEST_ANSWER_BYTES_MAX * 2];
                big[..2].copy_from_slice(&query.header().id().to_be_bytes());
                Some(big)
            }
        }
    }

    struct Servers {
        port: u16,
        /// Queries received over UDP and TCP by all servers.
        queries: Arc<AtomicUsize>,
        _tasks: JoinSet<()>,
    }

    async fn serve_udp(socket: UdpSocket, behavior: Behavior, queries: Arc<AtomicUsize>) {
        let mut buffer = vec![0u8; 4_096];
        while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
            queries.fetch_add(1, Ordering::SeqCst);
            if let Some(answer) = respond(&buffer[..length], behavior) {
                let _ = socket.send_to(&answer, peer).await;
            }
        }
    }

    async fn serve_tcp(listener: TcpListener, behavior: Behavior, queries: Arc<AtomicUsize>) {
        while let Ok((mut stream, _)) = listener.accept().await {
            let queries = queries.clone();
            tokio::spawn(async move {
                let Ok(length) = stream.read_u16().await else { return };
                let mut query = vec![0u8; usize::from(length)];
                if stream.read_exact(&mut query).await.is_err() {
                    return;
                }
                queries.fetch_add(1, Ordering::SeqCst);
                if behavior == Behavior::Oversized {
                    let _ = stream.write_all(&u16::MAX.to_be_bytes()).await;
                } else if let Some(answer) = respond(&query, behavior) {
                    let framed_length = u16::try_from(answer.len()).expect("small answer");
                    let _ = stream.write_all(&framed_length.to_be_bytes()).await;
                    let _ = stream.write_all(&answer).await;
                }
                // Hold the connection until the client goes: a silent server never closes it.
                let _ = stream.read(&mut [0u8; 1]).await;
            });
        }
    }

    /// Binds every behaviour's UDP socket and TCP listener on one port (retrying when another
    /// process holds the port on one of the addresses).
    async fn servers() -> Servers {
        for _ in 0..20 {
            let Ok(first) = UdpSocket::bind((BEHAVIORS[0].0, 0)).await else { continue };
            let port = first.local_addr().expect("local address").port();
            let mut udp = vec![first];
            let mut tcp = Vec::new();
            let mut bound = true;
            for (index, (address, _)) in BEHAVIORS.iter().enumerate() {
                if index > 0 {
                    match UdpSocket::bind((*address, port)).await {
                        Ok(socket) => udp.push(socket),
                        Err(_) => bound = false,
                    }
                }
                match TcpListener::bind((*address, port)).await {
                    Ok(listener) => tcp.push(listener),
                    Err(_) => bound = false,
                }
            }
            if !bound {
                continue;
            }
            let queries = Arc::new(AtomicUsize::new(0));
            let mut tasks = JoinSet::new();
            for ((socket, listener), (_, behavior)) in udp.into_iter().zip(tcp).zip(BEHAVIORS) {
                tasks.spawn(serve_udp(socket, behavior, queries.clone()));
                tasks.spawn(serve_tcp(listener, behavior, queries.clone()));
            }
            return Servers { port, queries, _tasks: tasks };
        }
        panic!("no free port for the test servers");
    }

    /// A resolver: ns1 and alias (a CNAME to ns1) have 127.0.0.1, private has 10.0.0.1, nothing
    /// has IPv6, anything else is NXDOMAIN.
    async fn resolver() -> (SocketAddr, JoinSet<()>) {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind resolver");
        let address = socket.local_addr().expect("local address");
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut buffer = vec![0u8; 4_096];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
                let Ok(query) = Message::from_octets(&buffer[..length]) else { continue };
                let Some(question) = query.first_question() else { continue };
                assert!(query.header().rd(), "resolver queries ask for recursion");
                let qname = question.qname().to_string();
                let known = ["ns1.example.net", "alias.example.net", "private.example.net"];
                let rcode = if known.contains(&qname.as_str()) { Rcode::NOERROR } else { Rcode::NXDOMAIN };
                let Ok(mut answer) = MessageBuilder::new_vec().start_answer(&query, rcode) else { continue };
                if question.qtype() == Rtype::A {
                    let ns1 = name("ns1.example.net");
                    let localhost = A::new(Ipv4Addr::LOCALHOST);
                    let _ = match qname.as_str() {
                        "ns1.example.net" => answer.push((ns1, 300, localhost)),
                        "alias.example.net" => answer
                            .push((name("alias.example.net"), 300, Cname::new(ns1.clone())))
                            .and_then(|()| answer.push((ns1, 300, localhost))),
                        "private.example.net" => answer.push((name(&qname), 300, A::new(Ipv4Addr::new(10, 0, 0, 1)))),
                        _ => Ok(()),
                    };
                }
                let _ = socket.send_to(&answer.finish(), peer).await;
            }
        });
        (address, tasks)
    }

    fn settings(port: u16, resolver: Option<SocketAddr>) -> CheckSettings {
        CheckSettings {
            port,
            resolver,
            allow_loopback: true,
            query_timeout_ms: 200,
            domain_budget_ms: 3_000,
            answer_bytes_max: TEST_ANSWER_BYTES_MAX,
        }
    }

    fn host(name: &str, addresses: &[IpAddr]) -> Nameserver {
        Nameserver { name: name.to_string(), addresses: addresses.to_vec() }
    }

    fn reasons(results: &[ServerCheck]) -> Vec<(Option<Transport>, &str)> {
        results.iter().map(|result| (result.transport, result.reason.as_str())).collect()
    }

    async fn check_one(behavior: Behavior) -> Vec<ServerCheck> {
        let servers = servers().await;
        let permits = Semaphore::new(limits::NS_CHECK_CONCURRENCY_MAX);
        let nameservers = [host("ns1.example.net", &[ip(behavior)])];
        check_domain(DOMAIN, &nameservers, &settings(servers.port, None), &permits).await
    }

    const UDP: Option<Transport> = Some(Transport::Udp);
    const TCP: Option<Transport> = Some(Transport::Tcp);

    #[tokio::test]
    async fn authoritative_server_passes() {
        let results = check_one(Behavior::Authoritative).await;
        assert_eq!(reasons(&results), [(UDP, OK), (TCP, OK)]);
        assert!(results.iter().all(|result| result.address == Some(ip(Behavior::Authoritative))));
        assert!(passed(&results));
    }

    #[tokio::test]
    async fn refused_lame_and_oversized_fail() {
        let refused = check_one(Behavior::Refused).await;
        assert_eq!(reasons(&refused), [(UDP, "REFUSED"), (TCP, "REFUSED")]);
        assert!(!passed(&refused));
        let lame = check_one(Behavior::Lame).await;
        assert_eq!(reasons(&lame), [(UDP, "not authoritative (no AA)"), (TCP, "not authoritative (no AA)")]);
        let oversized = check_one(Behavior::Oversized).await;
        assert_eq!(reasons(&oversized), [(UDP, TOO_LARGE), (TCP, TOO_LARGE)]);
    }

    #[tokio::test]
    async fn silent_server_times_out_within_bounds() {
        let started = std::time::Instant::now();
        let results = check_one(Behavior::Silent).await;
        let elapsed_ms = started.elapsed().as_millis();
        assert_eq!(reasons(&results), [(UDP, TIMEOUT), (TCP, TIMEOUT)]);
        // UDP: two tries of 200 ms; TCP: one of 200 ms, at the same time.
        assert!((390..1_500).contains(&elapsed_ms), "took {elapsed_ms} ms");
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let servers = servers().await;
        let permits = Semaphore::new(4);
        let nameservers = [host("ns1.example.net", &[NOBODY.parse().expect("ip")])];
        let results = check_domain(DOMAIN, &nameservers, &settings(servers.port, None), &permits).await;
        assert_eq!(reasons(&results), [(UDP, "connection refused"), (TCP, "connection refused")]);
    }

    #[tokio::test]
    async fn budget_bounds_the_domain() {
        let servers = servers().await;
        let permits = Semaphore::new(4);
        let settings = CheckSettings { query_timeout_ms: 5_000, domain_budget_ms: 150, ..settings(servers.port, None) };
        let nameservers = [host("ns1.example.net", &[ip(Behavior::Silent), ip(Behavior::Authoritative)])];
        let started = std::time::Instant::now();
        let results = check_domain(DOMAIN, &nameservers, &settings, &permits).await;
        let elapsed_ms = started.elapsed().as_millis();
        let expected = [(UDP, BUDGET_EXHAUSTED), (TCP, BUDGET_EXHAUSTED), (UDP, OK), (TCP, OK)];
        assert_eq!(reasons(&results), expected);
        assert!(elapsed_ms < 1_000, "took {elapsed_ms} ms");
    }

    #[tokio::test]
    async fn order_and_addresses_not_queried() {
        let servers = servers().await;
        let permits = Semaphore::new(1);
        let documentation: IpAddr = "192.0.2.1".parse().expect("ip");
        let nameservers = [
            host("ns1.example.net", &[ip(Behavior::Authoritative), documentation]),
            host("ns2.example.net", &[ip(Behavior::Refused)]),
        ];
        let results = check_domain(DOMAIN, &nameservers, &settings(servers.port, None), &permits).await;
        let summary: Vec<_> =
            results.iter().map(|r| (r.host.as_str(), r.address, r.transport, r.ok, r.reason.as_str())).collect();
        let auth = Some(ip(Behavior::Authoritative));
        let refused = Some(ip(Behavior::Refused));
        assert_eq!(
            summary,
            [
                ("ns1.example.net", auth, UDP, true, OK),
                ("ns1.example.net", auth, TCP, true, OK),
                ("ns1.example.net", Some(documentation), None, false, "192.0.2.1 is not a public address; not queried"),
                ("ns2.example.net", refused, UDP, false, "REFUSED"),
                ("ns2.example.net", refused, TCP, false, "REFUSED"),
            ]
        );
        assert!(!passed(&results));
    }

    #[tokio::test]
    async fn loopback_is_not_queried_unless_allowed() {
        let servers = servers().await;
        let permits = Semaphore::new(4);
        let settings = CheckSettings { allow_loopback: false, ..settings(servers.port, None) };
        let nameservers = [host("ns1.example.net", &[ip(Behavior::Authoritative), "::1".parse().expect("ip")])];
        let results = check_domain(DOMAIN, &nameservers, &settings, &permits).await;
        assert_eq!(
            reasons(&results),
            [
                (None, "127.0.0.1 is not a public address; not queried"),
                (None, "::1 is not a public address; not queried")
            ]
        );
        assert_eq!(servers.queries.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn hosts_without_glue_are_resolved() {
        let servers = servers().await;
        let (resolver, _resolver_task) = resolver().await;
        let permits = Semaphore::new(2);
        let nameservers = [
            host("ns1.example.net", &[]),
            host("alias.example.net", &[]),
            host("private.example.net", &[]),
            host("nx.example.net", &[]),
        ];
        let results = check_domain(DOMAIN, &nameservers, &settings(servers.port, Some(resolver)), &permits).await;
        let localhost = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let summary: Vec<_> = results.iter().map(|r| (r.host.as_str(), r.address, r.reason.as_str())).collect();
        assert_eq!(
            summary,
            [
                ("ns1.example.net", localhost, OK),
                ("ns1.example.net", localhost, OK),
                ("alias.example.net", localhost, OK),
                ("alias.example.net", localhost, OK),
                (
                    "private.example.net",
                    Some("10.0.0.1".parse().expect("ip")),
                    "10.0.0.1 is not a public address; not queried"
                ),
                ("nx.example.net", None, "cannot resolve nx.example.net: NXDOMAIN"),
            ]
        );
    }

    #[tokio::test]
    async fn hosts_without_glue_and_resolver_fail() {
        let permits = Semaphore::new(1);
        let results = check_domain(DOMAIN, &[host("ns1.example.net", &[])], &settings(9, None), &permits).await;
        assert_eq!(reasons(&results), [(None, "no resolver configured for ns1.example.net (no glue)")]);
        assert_eq!(results[0].address, None);
        assert!(!passed(&results));
        assert!(!passed(&check_domain(DOMAIN, &[], &settings(9, None), &permits).await));
    }

    #[test]
    fn check_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let permits = Semaphore::new(1);
        let settings = CheckSettings::new(53, None, false);
        assert_send(&check_domain(DOMAIN, &[], &settings, &permits));
    }
}
