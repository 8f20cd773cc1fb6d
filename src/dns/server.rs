//! The hidden primary's listener (`[dns] listen`): SOA, AXFR and IXFR for the registry's
//! zones to its secondaries, over UDP and TCP, and nothing else.
//!
//! Every query is judged by [`Primary::judge`] (pure: bytes in, a decision out): a message
//! that cannot be read is dropped; anything but a SOA, AXFR or IXFR query (or a NOTIFY) for the
//! apex of a published zone is REFUSED; a TSIG signature that does not verify gets NOTAUTH with
//! the TSIG error; a query neither signed with a key allowed for the zone nor from an allowed
//! address is REFUSED and logged. Never recursion, never data of another zone.
//!
//! Bounds: queries of at most [`QUERY_BYTES_MAX`]; at most `max_connections` TCP connections
//! (more are closed at once), each closed after `idle_secs` without a query and after
//! [`QUERIES_PER_CONNECTION_MAX`] queries; at most `max_transfers` transfers at once (more are
//! REFUSED); a transfer is produced off the async threads into a channel of a few messages, and
//! a client that does not take a message within `write_timeout_secs` is dropped, so a slow
//! reader holds one file open and a few messages of memory, never a publication (which renames
//! a new file over the one being read).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::base::iana::{Class, Opcode, Rcode};
use domain::base::message_builder::HashCompressor;
use domain::base::{Message, MessageBuilder, Rtype};
use domain::rdata::tsig::Time48;
use domain::tsig::{Algorithm, Key, KeyName, ServerSequence, ServerTransaction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use super::book::book;
use super::xfr::{self, Plan};
use crate::config::DnsSettings;

/// The largest query taken (a query with a TSIG record is under 300 bytes).
pub const QUERY_BYTES_MAX: usize = 4096;
/// Queries on one TCP connection before it is closed.
pub const QUERIES_PER_CONNECTION_MAX: u32 = 1_000;
/// Messages of a transfer waiting to be written.
const TRANSFER_QUEUE: usize = 4;

/// Counters for `/metrics`, since the process started.
pub static QUERIES: AtomicU64 = AtomicU64::new(0);
pub static REFUSED: AtomicU64 = AtomicU64::new(0);
pub static NOTAUTH: AtomicU64 = AtomicU64::new(0);
pub static DROPPED: AtomicU64 = AtomicU64::new(0);
pub static TRANSFERS_AXFR: AtomicU64 = AtomicU64::new(0);
pub static TRANSFERS_IXFR: AtomicU64 = AtomicU64::new(0);

type KeyStore = HashMap<(KeyName, Algorithm), Arc<Key>>;

/// What the listener needs: the settings, the zones, where their files are, the keys.
pub struct Primary {
    pub settings: DnsSettings,
    zones: Vec<String>,
    dir: PathBuf,
    keys: KeyStore,
}

/// What to do with one query.
pub enum Decision {
    /// Nothing (unreadable, or a response).
    Drop,
    /// One answer message.
    Answer(Vec<u8>),
    /// A transfer to stream (TCP only).
    Transfer(Box<Transfer>),
}

pub struct Transfer {
    pub zone: String,
    pub plan: Plan,
    pub query: Message<Vec<u8>>,
    pub tsig: Option<ServerSequence<Arc<Key>>>,
    pub key: Option<String>,
}

fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "hmac-sha1" => Some(Algorithm::Sha1),
        "hmac-sha256" => Some(Algorithm::Sha256),
        "hmac-sha384" => Some(Algorithm::Sha384),
        "hmac-sha512" => Some(Algorithm::Sha512),
        _ => None,
    }
}

/// A configured key, ready to sign and verify.
fn signing_key(k: &crate::config::TsigKeySettings) -> Result<(KeyName, Algorithm, Arc<Key>), String> {
    let alg = algorithm(&k.algorithm).ok_or_else(|| format!("dns.tsig {}: unknown algorithm", k.name))?;
    let name: KeyName = k.name.parse().map_err(|_| format!("dns.tsig {}: not a key name", k.name))?;
    let key = Key::new(alg, &k.secret, name.clone(), None, None).map_err(|e| format!("dns.tsig {}: {e}", k.name))?;
    Ok((name, alg, Arc::new(key)))
}

/// The configured key named `name`, ready to sign.
pub fn key(settings: &DnsSettings, name: &str) -> Option<Arc<Key>> {
    let k = settings.keys.iter().find(|k| k.name == name)?;
    signing_key(k).ok().map(|(_, _, key)| key)
}

/// The name of a key as configured (lower case, no final dot).
fn key_name(k: &Key) -> String {
    let mut n = k.name().to_string().to_ascii_lowercase();
    while n.ends_with('.') {
        n.pop();
    }
    n
}

impl Primary {
    pub fn new(settings: DnsSettings, zones: Vec<String>, dir: PathBuf) -> Result<Primary, String> {
        let mut keys = KeyStore::new();
        for k in &settings.keys {
            let (name, alg, key) = signing_key(k)?;
            keys.insert((name, alg), key);
        }
        Ok(Primary { settings, zones, dir, keys })
    }

    /// Whether a query for `zone` signed with `key` (verified) from `ip` may be answered.
    pub fn allowed(&self, zone: &str, ip: IpAddr, key: Option<&str>) -> bool {
        if let Some(k) = key
            && self.settings.keys.iter().any(|c| c.name == k && c.serves(zone))
        {
            return true;
        }
        let ip = canonical(ip);
        self.settings.allow.iter().any(|n| n.contains(&ip))
            || self
                .settings
                .secondaries
                .iter()
                .any(|s| s.tsig.is_none() && s.serves(zone) && canonical(s.address.ip()) == ip)
    }

    /// Decides what to answer to `bytes` from `peer` (`tcp`: whether it came over TCP).
    pub fn judge(&self, bytes: Vec<u8>, peer: IpAddr, tcp: bool) -> Decision {
        QUERIES.fetch_add(1, Ordering::Relaxed);
        if bytes.len() < 12 || bytes.len() > QUERY_BYTES_MAX {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return Decision::Drop;
        }
        let original = bytes.clone();
        let Ok(mut msg) = Message::from_octets(bytes) else {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return Decision::Drop;
        };
        if msg.header().qr() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return Decision::Drop;
        }
        let opcode = msg.header().opcode();
        if opcode != Opcode::QUERY && opcode != Opcode::NOTIFY {
            return Decision::Answer(header_only(&original, Rcode::NOTIMP));
        }
        let Ok(question) = msg.sole_question() else {
            return Decision::Answer(header_only(&original, Rcode::FORMERR));
        };
        let qtype = question.qtype();
        let mut qname = question.qname().to_string().to_ascii_lowercase();
        while qname.ends_with('.') {
            qname.pop();
        }
        let zone = self.zones.iter().find(|z| **z == qname).cloned();
        let wanted = question.qclass() == Class::IN
            && zone.is_some()
            && (qtype == Rtype::SOA || (opcode == Opcode::QUERY && (qtype == Rtype::AXFR || qtype == Rtype::IXFR)));
        if !wanted {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return Decision::Answer(plain(&msg, Rcode::REFUSED));
        }
        let zone = zone.unwrap_or_default();
        let stream = tcp && opcode == Opcode::QUERY && (qtype == Rtype::AXFR || qtype == Rtype::IXFR);
        // The client's serial, for IXFR: the SOA in the authority section.
        let ixfr_serial = if qtype == Rtype::IXFR { client_serial(&msg) } else { None };
        if qtype == Rtype::IXFR && ixfr_serial.is_none() {
            return Decision::Answer(plain(&msg, Rcode::FORMERR));
        }
        let now = Time48::now();
        let (seq, tran) = if stream {
            match ServerSequence::request(&self.keys, &mut msg, now) {
                Ok(s) => (s, None),
                Err(e) => return self.tsig_failure(e, &original, &zone, peer),
            }
        } else {
            match ServerTransaction::request(&self.keys, &mut msg, now) {
                Ok(t) => (None, t),
                Err(e) => return self.tsig_failure(e, &original, &zone, peer),
            }
        };
        let key = seq.as_ref().map(|s| key_name(s.key())).or_else(|| tran.as_ref().map(|t| key_name(t.key())));
        let kind = if opcode == Opcode::NOTIFY {
            "NOTIFY"
        } else if qtype == Rtype::SOA {
            "SOA"
        } else if qtype == Rtype::AXFR {
            "AXFR"
        } else {
            "IXFR"
        };
        if !self.allowed(&zone, peer, key.as_deref()) {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                peer = %peer, zone = %zone, query = kind, key = key.as_deref().unwrap_or("none"),
                "dns query refused: neither a key nor an address allowed for the zone"
            );
            return Decision::Answer(signed_single(&msg, Rcode::REFUSED, false, &[], tran));
        }
        book().seen(&self.settings, peer, key.as_deref(), &zone, kind, ixfr_serial);
        if stream {
            if !crate::zone::zone_file(&self.dir, &zone).exists() {
                // Nothing published yet: SERVFAIL, as for a zone not loaded.
                return Decision::Answer(signed_single(&msg, Rcode::SERVFAIL, false, &[], None));
            }
            let plan = match ixfr_serial {
                Some(s) => Plan::Ixfr(s),
                None => Plan::Axfr,
            };
            return Decision::Transfer(Box::new(Transfer { zone, plan, query: msg, tsig: seq, key }));
        }
        if opcode == Opcode::NOTIFY {
            // A primary has nothing to do with a NOTIFY; acknowledged so the sender stops.
            return Decision::Answer(signed_single(&msg, Rcode::NOERROR, true, &[], tran));
        }
        if qtype == Rtype::AXFR {
            // AXFR is TCP only (RFC 5936 section 4.2).
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return Decision::Answer(signed_single(&msg, Rcode::REFUSED, false, &[], tran));
        }
        // SOA, or IXFR over UDP: the current SOA (which tells an IXFR client to come back over
        // TCP when it is behind, RFC 1995 section 2).
        match xfr::open_published(&self.dir, &zone) {
            Ok(Some(p)) => Decision::Answer(signed_single(&msg, Rcode::NOERROR, true, &[p.soa], tran)),
            Ok(None) => Decision::Answer(signed_single(&msg, Rcode::SERVFAIL, false, &[], tran)),
            Err(e) => {
                tracing::error!(zone = %zone, error = %e, "cannot read the published zone");
                Decision::Answer(signed_single(&msg, Rcode::SERVFAIL, false, &[], tran))
            }
        }
    }

    fn tsig_failure(
        &self,
        e: domain::tsig::ServerError<Arc<Key>>,
        original: &[u8],
        zone: &str,
        peer: IpAddr,
    ) -> Decision {
        NOTAUTH.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(peer = %peer, zone = %zone, error = %e.error(), "dns query refused: its TSIG signature does not verify");
        let Ok(msg) = Message::from_octets(original.to_vec()) else { return Decision::Drop };
        match e.build_message(&msg, MessageBuilder::new_vec()) {
            Ok(b) => Decision::Answer(badsig_not_formerr(b.finish())),
            Err(_) => Decision::Answer(header_only(original, Rcode::NOTAUTH)),
        }
    }

    /// Streams one transfer into `sink` (blocking: run it off the async threads).
    pub fn produce(&self, t: Transfer, sink: &mut dyn FnMut(Vec<u8>) -> bool) -> std::io::Result<Option<xfr::Sent>> {
        xfr::transfer(&self.dir, &t.zone, t.plan, &t.query, t.tsig, sink)
    }
}

/// `domain` 0.12 answers a MAC that does not verify with TSIG error FORMERR; RFC 8945 section
/// 5.2.2 says BADSIG, under RCODE NOTAUTH, which is what secondaries log and operators look
/// for. The TSIG record is the message's last and its error field the 4 bytes before its
/// (empty) other data, so the fix is in place.
fn badsig_not_formerr(mut m: Vec<u8>) -> Vec<u8> {
    let n = m.len();
    let unsigned_tsig_formerr = n > 18 && m[n - 2..] == [0, 0] && m[n - 4..n - 2] == [0, 1] && m[10..12] != [0, 0];
    if unsigned_tsig_formerr {
        m[n - 4..n - 2].copy_from_slice(&16u16.to_be_bytes());
        m[3] = (m[3] & 0xf0) | 9;
    }
    m
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn client_serial(msg: &Message<Vec<u8>>) -> Option<u32> {
    let authority = msg.authority().ok()?;
    for r in authority {
        let r = r.ok()?;
        if r.rtype() == Rtype::SOA
            && let Ok(Some(soa)) = r.to_record::<domain::rdata::Soa<domain::base::ParsedName<&[u8]>>>()
        {
            return Some(soa.data().serial().into_int());
        }
    }
    None
}

/// An answer of only a header: the query's id and opcode, QR and `rcode` (for messages whose
/// question cannot be read).
fn header_only(query: &[u8], rcode: Rcode) -> Vec<u8> {
    let mut b = MessageBuilder::new_vec();
    let h = b.header_mut();
    h.set_id(u16::from_be_bytes([query[0], query[1]]));
    h.set_qr(true);
    h.set_opcode(Opcode::from_int((query[2] >> 3) & 0x0f));
    h.set_rcode(rcode);
    b.finish()
}

/// An unsigned answer with no records.
fn plain(msg: &Message<Vec<u8>>, rcode: Rcode) -> Vec<u8> {
    signed_single(msg, rcode, false, &[], None)
}

fn signed_single(
    msg: &Message<Vec<u8>>,
    rcode: Rcode,
    aa: bool,
    records: &[xfr::Rec],
    tsig: Option<ServerTransaction<Arc<Key>>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sink = |m: Vec<u8>| {
        out = m;
        true
    };
    let built = (|| -> Option<()> {
        let b = MessageBuilder::from_target(HashCompressor::new(Vec::new())).ok()?;
        let mut a = b.start_answer(msg, rcode).ok()?;
        a.header_mut().set_aa(aa);
        for r in records {
            xfr::push_one(&mut a, r).ok()?;
        }
        let mut add = a.additional();
        if let Some(t) = tsig {
            t.answer(&mut add, Time48::now()).ok()?;
        }
        sink(add.finish().into_target());
        Some(())
    })();
    if built.is_none() {
        return header_only(msg.as_slice(), Rcode::SERVFAIL);
    }
    out
}

// --- sockets -------------------------------------------------------------------------------------

/// Binds TCP and UDP on the same address (port 0: a free port for both).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, UdpSocket)> {
    let mut last = None;
    for _ in 0..10 {
        let tcp = TcpListener::bind(addr).await?;
        let bound = tcp.local_addr()?;
        match UdpSocket::bind(bound).await {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("cannot bind")))
}

/// Serves until `stop`.
pub async fn serve(
    primary: Arc<Primary>,
    tcp: TcpListener,
    udp: UdpSocket,
    stop: impl std::future::Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(primary.settings.max_connections));
    let transfers = Arc::new(Semaphore::new(primary.settings.max_transfers));
    let udp = Arc::new(udp);
    let udp_task = tokio::spawn(serve_udp(primary.clone(), udp));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = tcp.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of descriptors, say: wait a little rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Ok(permit) = connections.clone().try_acquire_owned() else {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                };
                let (p, t) = (primary.clone(), transfers.clone());
                tokio::spawn(async move {
                    serve_tcp(p, t, stream, peer).await;
                    drop(permit);
                });
            }
        }
    }
    udp_task.abort();
}

async fn serve_udp(primary: Arc<Primary>, udp: Arc<UdpSocket>) {
    let mut buf = vec![0u8; QUERY_BYTES_MAX + 1];
    loop {
        let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if n > QUERY_BYTES_MAX {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match primary.judge(buf[..n].to_vec(), peer.ip(), false) {
            Decision::Answer(a) => {
                let a = if a.len() > 512 { truncated(&a) } else { a };
                let _ = udp.send_to(&a, peer).await;
            }
            Decision::Transfer(_) | Decision::Drop => {}
        }
    }
}

/// A UDP answer too long for 512 bytes: its header with TC set (the client retries over TCP).
fn truncated(a: &[u8]) -> Vec<u8> {
    let mut h = a[..12].to_vec();
    h[2] |= 0x02;
    h[4..12].fill(0);
    h
}

async fn serve_tcp(primary: Arc<Primary>, transfers: Arc<Semaphore>, mut stream: TcpStream, peer: SocketAddr) {
    let idle = Duration::from_secs(u64::from(primary.settings.idle_secs));
    let write_timeout = Duration::from_secs(u64::from(primary.settings.write_timeout_secs));
    let _ = stream.set_nodelay(true);
    if primary.settings.send_buffer_kib > 0 {
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(primary.settings.send_buffer_kib as usize * 1024);
    }
    for _ in 0..QUERIES_PER_CONNECTION_MAX {
        let mut len = [0u8; 2];
        match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let n = usize::from(u16::from_be_bytes(len));
        if !(12..=QUERY_BYTES_MAX).contains(&n) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut body = vec![0u8; n];
        match tokio::time::timeout(idle, stream.read_exact(&mut body)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        match primary.judge(body, peer.ip(), true) {
            Decision::Drop => return,
            Decision::Answer(a) => {
                if !write_message(&mut stream, &a, write_timeout).await {
                    return;
                }
            }
            Decision::Transfer(t) => {
                let Ok(permit) = transfers.clone().try_acquire_owned() else {
                    REFUSED.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(peer = %peer, zone = %t.zone, "transfer refused: too many transfers at once");
                    let a = plain(&t.query, Rcode::REFUSED);
                    let _ = write_message(&mut stream, &a, write_timeout).await;
                    return;
                };
                if !stream_transfer(&primary, &mut stream, peer, *t, write_timeout).await {
                    return;
                }
                drop(permit);
            }
        }
    }
}

async fn write_message(stream: &mut TcpStream, message: &[u8], timeout: Duration) -> bool {
    let Ok(len) = u16::try_from(message.len()) else { return false };
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    matches!(tokio::time::timeout(timeout, stream.write_all(&framed)).await, Ok(Ok(())))
}

/// Produces the transfer on a blocking thread into a short channel and writes it out; false
/// when the connection is to be closed.
async fn stream_transfer(
    primary: &Arc<Primary>,
    stream: &mut TcpStream,
    peer: SocketAddr,
    t: Transfer,
    timeout: Duration,
) -> bool {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(TRANSFER_QUEUE);
    let (zone, key, plan) = (t.zone.clone(), t.key.clone(), t.plan);
    let p = primary.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let mut sink = |m: Vec<u8>| tx.blocking_send(m).is_ok();
        p.produce(t, &mut sink)
    });
    let started = std::time::Instant::now();
    let mut ok = true;
    while let Some(m) = rx.recv().await {
        if !write_message(stream, &m, timeout).await {
            ok = false;
            break;
        }
    }
    // Dropping the receiver stops the producer at its next message.
    drop(rx);
    match producer.await {
        Ok(Ok(Some(sent))) if ok => {
            if sent.kind == "AXFR" || sent.kind == "IXFR (whole zone)" {
                TRANSFERS_AXFR.fetch_add(1, Ordering::Relaxed);
            } else {
                TRANSFERS_IXFR.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(
                peer = %peer, zone = %zone, kind = sent.kind, serial = sent.serial, records = sent.records,
                messages = sent.messages, bytes = sent.bytes, millis = started.elapsed().as_millis() as u64,
                key = key.as_deref().unwrap_or("none"), ?plan, "zone transferred"
            );
            book().transferred(&primary.settings, peer.ip(), key.as_deref(), &zone, &sent);
            true
        }
        Ok(Ok(Some(_))) | Ok(Err(_)) if !ok => {
            tracing::warn!(peer = %peer, zone = %zone, "transfer abandoned: the client did not take it in time");
            false
        }
        // The zone's file went away since the query was judged: nothing sensible to send.
        Ok(Ok(None)) | Ok(Ok(Some(_))) => false,
        Ok(Err(e)) => {
            tracing::error!(peer = %peer, zone = %zone, error = %e, "transfer failed");
            false
        }
        Err(e) => {
            tracing::error!(peer = %peer, zone = %zone, error = %e, "transfer task failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TldZone, TsigKeySettings};
    use crate::model::{Delegation, Nameserver};
    use crate::zone::render;
    use domain::base::Name;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn settings() -> DnsSettings {
        DnsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            keys: vec![TsigKeySettings {
                name: "xfr".into(),
                algorithm: "hmac-sha256".into(),
                secret: SECRET.to_vec(),
                zones: None,
            }],
            secondaries: vec![],
            allow: vec!["192.0.2.0/24".parse().unwrap()],
            max_connections: 4,
            max_transfers: 2,
            idle_secs: 1,
            write_timeout_secs: 1,
            keep_publications: 10,
            keep_days: 7,
            behind_after_secs: 60,
            send_buffer_kib: 0,
        }
    }

    /// A published zone of `n` delegations in a temporary directory.
    fn published(n: usize) -> (tempfile::TempDir, Primary) {
        let dir = tempfile::tempdir().unwrap();
        let z = TldZone {
            primary: "a.dns.pt".into(),
            mailbox: "hostmaster.dns.pt".into(),
            ttl: 86_400,
            soa_ttl: 3_600,
            refresh: 3_600,
            retry: 900,
            expire: 1_209_600,
            minimum: 3_600,
            nameservers: vec![Nameserver { name: "a.dns.pt".into(), addresses: vec!["192.0.2.53".parse().unwrap()] }],
            separate: vec![],
        };
        let mut out = Vec::new();
        render::write_apex(&mut out, "pt", &z, render::Header { serial: 2026120201, journal_seq: 1 }, &[]).unwrap();
        for i in 0..n {
            let d = Delegation {
                ns: vec![
                    Nameserver { name: format!("ns1.d{i:06}.pt"), addresses: vec!["192.0.2.1".parse().unwrap()] },
                    Nameserver { name: "ns.example.net".into(), addresses: vec![] },
                ],
                ds: vec![],
            };
            render::write_delegation(&mut out, &format!("d{i:06}.pt"), 86_400, &d).unwrap();
        }
        std::fs::write(crate::zone::zone_file(dir.path(), "pt"), out).unwrap();
        let p = Primary::new(settings(), vec!["pt".into()], dir.path().to_path_buf()).unwrap();
        (dir, p)
    }

    fn query(name: &str, rtype: Rtype, rd: bool) -> Vec<u8> {
        super::super::query_message(0x4242, &Name::vec_from_str(name).unwrap(), rtype, rd)
    }

    fn signed(name: &str, rtype: Rtype, secret: &[u8]) -> Vec<u8> {
        let mut b = MessageBuilder::new_vec();
        b.header_mut().set_id(7);
        let mut q = b.question();
        q.push((Name::vec_from_str(name).unwrap(), rtype)).unwrap();
        let mut add = q.additional();
        let key = Key::new(Algorithm::Sha256, secret, "xfr".parse().unwrap(), None, None).unwrap();
        domain::tsig::ClientTransaction::request(key, &mut add, Time48::now()).unwrap();
        add.finish()
    }

    fn rcode(d: &Decision) -> Option<Rcode> {
        match d {
            Decision::Answer(a) => Some(Message::from_octets(a.as_slice()).unwrap().header().rcode()),
            _ => None,
        }
    }

    const ALLOWED: &str = "192.0.2.7";
    const STRANGER: &str = "198.51.100.7";

    #[test]
    fn answers_only_what_secondaries_need() {
        let (_d, p) = published(3);
        let ok: IpAddr = ALLOWED.parse().unwrap();
        let soa = p.judge(query("pt", Rtype::SOA, false), ok, false);
        assert_eq!(rcode(&soa), Some(Rcode::NOERROR));
        if let Decision::Answer(a) = &soa {
            let m = Message::from_octets(a.as_slice()).unwrap();
            assert!(m.header().aa() && !m.header().ra());
            assert_eq!(m.header_counts().ancount(), 1);
        }
        // Other zones, other names, other types, recursion: REFUSED, never an answer.
        for (name, rtype, rd) in [
            ("example.com", Rtype::SOA, true),
            ("d000001.pt", Rtype::NS, false),
            ("pt", Rtype::ANY, false),
            ("pt", Rtype::A, true),
            ("pt", Rtype::AXFR, false),
        ] {
            let d = p.judge(query(name, rtype, rd), ok, false);
            assert_eq!(rcode(&d), Some(Rcode::REFUSED), "{name} {rtype}");
        }
        // IXFR over UDP: only the SOA (come back over TCP).
        let stranger: IpAddr = STRANGER.parse().unwrap();
        assert_eq!(rcode(&p.judge(query("pt", Rtype::SOA, false), stranger, false)), Some(Rcode::REFUSED));
        assert!(matches!(p.judge(query("pt", Rtype::AXFR, false), ok, true), Decision::Transfer(_)));
        assert_eq!(rcode(&p.judge(query("pt", Rtype::AXFR, false), stranger, true)), Some(Rcode::REFUSED));
        // An IXFR without the client's SOA is malformed.
        assert_eq!(rcode(&p.judge(query("pt", Rtype::IXFR, false), ok, true)), Some(Rcode::FORMERR));
    }

    #[test]
    fn tsig_lets_in_and_a_wrong_secret_gets_badsig() {
        let (_d, p) = published(1);
        let stranger: IpAddr = STRANGER.parse().unwrap();
        assert_eq!(rcode(&p.judge(signed("pt", Rtype::SOA, SECRET), stranger, false)), Some(Rcode::NOERROR));
        assert!(matches!(p.judge(signed("pt", Rtype::AXFR, SECRET), stranger, true), Decision::Transfer(_)));
        let bad = p.judge(signed("pt", Rtype::SOA, b"another secret, just as long...."), stranger, false);
        assert_eq!(rcode(&bad), Some(Rcode::NOTAUTH));
        if let Decision::Answer(a) = &bad {
            assert_eq!(&a[a.len() - 4..a.len() - 2], &16u16.to_be_bytes(), "TSIG error BADSIG");
        }
    }

    #[test]
    fn garbage_is_dropped_or_refused() {
        let (_d, p) = published(1);
        let ip: IpAddr = ALLOWED.parse().unwrap();
        assert!(matches!(p.judge(vec![], ip, true), Decision::Drop));
        assert!(matches!(p.judge(vec![0; 11], ip, false), Decision::Drop));
        assert!(matches!(p.judge(vec![0xff; QUERY_BYTES_MAX + 1], ip, false), Decision::Drop));
        let mut response = query("pt", Rtype::SOA, false);
        response[2] |= 0x80;
        assert!(matches!(p.judge(response, ip, false), Decision::Drop));
        // Truncated in the question: FORMERR with the id.
        let q = query("pt", Rtype::SOA, false);
        assert_eq!(rcode(&p.judge(q[..14].to_vec(), ip, false)), Some(Rcode::FORMERR));
    }

    #[test]
    fn axfr_is_the_file_record_for_record_in_small_messages() {
        let (dir, p) = published(2_000);
        let Decision::Transfer(t) = p.judge(query("pt", Rtype::AXFR, false), ALLOWED.parse().unwrap(), true) else {
            panic!("no transfer")
        };
        let mut messages = Vec::new();
        let sent = p.produce(*t, &mut |m| {
            messages.push(m);
            true
        });
        let sent = sent.unwrap().unwrap();
        assert_eq!(sent.kind, "AXFR");
        assert!(messages.len() > 1 && messages.iter().all(|m| m.len() <= 64 * 1024));
        let mut got = Vec::new();
        for m in &messages {
            let m = Message::from_octets(m.as_slice()).unwrap();
            for r in m.answer().unwrap() {
                let r = r.unwrap().into_any_record::<domain::rdata::AllRecordData<_, _>>().unwrap();
                got.push(r.to_string().split_ascii_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        let text = std::fs::read_to_string(crate::zone::zone_file(dir.path(), "pt")).unwrap();
        let mut want: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(';'))
            .map(|l| l.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        want.push(want[0].clone());
        assert_eq!(got, want);
        // A client that stops taking messages stops the producer.
        let Decision::Transfer(t) = p.judge(query("pt", Rtype::AXFR, false), ALLOWED.parse().unwrap(), true) else {
            panic!("no transfer")
        };
        let mut n = 0;
        let r = p.produce(*t, &mut |_| {
            n += 1;
            n < 2
        });
        assert!(r.is_err());
        assert_eq!(n, 2);
    }

    proptest! {
        #[test]
        fn any_bytes_are_judged_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), tcp in any::<bool>()) {
            let (_d, p) = published(0);
            let _ = p.judge(bytes, ALLOWED.parse().unwrap(), tcp);
        }

        #[test]
        fn mutated_queries_are_judged_without_panic(pos in 0usize..40, val in any::<u8>(), cut in 12usize..60) {
            let (_d, p) = published(0);
            let mut q = signed("pt", Rtype::AXFR, SECRET);
            if pos < q.len() { q[pos] = val; }
            q.truncate(cut.max(12));
            let _ = p.judge(q, ALLOWED.parse().unwrap(), true);
        }
    }
}
