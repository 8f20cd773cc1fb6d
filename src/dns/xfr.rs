//! Zone transfers out of the published files: AXFR (RFC 5936) and IXFR (RFC 1995).
//!
//! What a secondary receives is read from the zone's published file (and, for IXFR, from the
//! difference files beside it), never from the database: it is exactly what was published,
//! consistent for the whole transfer whatever the registry writes meanwhile (the file is opened
//! once; a publication renames a new file over it and the open one stays whole). Records are
//! parsed a line at a time and packed into messages of about [`SOFT_MESSAGE_BYTES`], each
//! handed to a sink as soon as it is full, so memory stays flat in the zone's size.
//!
//! Pure apart from reading those files: the sink decides what happens to each message (the
//! server sends it over TCP with a timeout; tests collect them).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use domain::base::iana::{Class, Rcode};
use domain::base::message_builder::{AnswerBuilder, HashCompressor, PushError};
use domain::base::wire::Composer;
use domain::base::{Message, MessageBuilder, Serial, Ttl};
use domain::rdata::{A, Aaaa, Ds, Ns, Soa};
use domain::tsig::{Key, ServerSequence};

use super::OwnedName;
use crate::zone::diff;
use crate::zone::render;

/// A transfer message is closed once it reaches this size (the limit is 65,535; smaller
/// messages keep each write short for a slow reader, larger ones cost fewer signatures).
pub const SOFT_MESSAGE_BYTES: usize = 16 * 1024;
/// Room kept for the TSIG record at the end of each message.
const TSIG_ROOM: usize = 512;

/// Record data of the kinds a published zone holds.
#[derive(Debug, Clone)]
pub enum Data {
    Soa(Soa<OwnedName>),
    Ns(Ns<OwnedName>),
    A(A),
    Aaaa(Aaaa),
    Ds(Ds<Vec<u8>>),
}

/// One record of a published zone.
#[derive(Debug, Clone)]
pub struct Rec {
    pub owner: OwnedName,
    pub ttl: u32,
    pub data: Data,
}

impl Rec {
    /// The same SOA with another serial (the old versions of the zone in an IXFR).
    pub fn with_serial(&self, serial: u32) -> Rec {
        let mut r = self.clone();
        if let Data::Soa(s) = &self.data {
            r.data = Data::Soa(Soa::new(
                s.mname().clone(),
                s.rname().clone(),
                Serial(serial),
                s.refresh(),
                s.retry(),
                s.expire(),
                s.minimum(),
            ));
        }
        r
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn name(text: &str) -> io::Result<OwnedName> {
    super::parse_name(text).map_err(bad)
}

fn hex(text: &str) -> io::Result<Vec<u8>> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(bad(format!("odd hex digest: {text}")));
    }
    let digit = |c: u8| -> io::Result<u8> {
        (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| bad(format!("bad hex digest: {text}")))
    };
    b.chunks(2).map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// Parses one line as nicbox writes zone files (`owner ttl IN type rdata`); None for comments
/// and blank lines.
pub fn parse_record(line: &str) -> io::Result<Option<Rec>> {
    let line = line.trim_end();
    if line.is_empty() || line.starts_with(';') {
        return Ok(None);
    }
    let mut f = line.split_ascii_whitespace();
    let (Some(owner), Some(ttl), Some(class), Some(kind)) = (f.next(), f.next(), f.next(), f.next()) else {
        return Err(bad(format!("unreadable line: {line}")));
    };
    if class != "IN" {
        return Err(bad(format!("class {class}: {line}")));
    }
    let ttl: u32 = ttl.parse().map_err(|_| bad(format!("bad TTL: {line}")))?;
    let mut next = || f.next().ok_or_else(|| bad(format!("short record: {line}")));
    let num = |t: &str| -> io::Result<u32> { t.parse().map_err(|_| bad(format!("bad number {t}: {line}"))) };
    let data = match kind {
        "SOA" => {
            let (m, r) = (name(next()?)?, name(next()?)?);
            let serial = num(next()?)?;
            let (refresh, retry, expire, minimum) = (num(next()?)?, num(next()?)?, num(next()?)?, num(next()?)?);
            Data::Soa(Soa::new(
                m,
                r,
                Serial(serial),
                Ttl::from_secs(refresh),
                Ttl::from_secs(retry),
                Ttl::from_secs(expire),
                Ttl::from_secs(minimum),
            ))
        }
        "NS" => Data::Ns(Ns::new(name(next()?)?)),
        "A" => Data::A(A::new(next()?.parse::<Ipv4Addr>().map_err(|_| bad(format!("bad address: {line}")))?)),
        "AAAA" => Data::Aaaa(Aaaa::new(next()?.parse::<Ipv6Addr>().map_err(|_| bad(format!("bad address: {line}")))?)),
        "DS" => {
            let tag = num(next()?)?;
            let alg = num(next()?)?;
            let dt = num(next()?)?;
            let digest = hex(next()?)?;
            let (Ok(tag), Ok(alg), Ok(dt)) = (u16::try_from(tag), u8::try_from(alg), u8::try_from(dt)) else {
                return Err(bad(format!("bad DS: {line}")));
            };
            Data::Ds(Ds::new(tag, alg.into(), dt.into(), digest).map_err(|_| bad(format!("bad DS: {line}")))?)
        }
        other => return Err(bad(format!("unexpected record type {other}: {line}"))),
    };
    Ok(Some(Rec { owner: name(owner)?, ttl, data }))
}

/// Pushes one record into an answer.
pub fn push_one<T: Composer>(b: &mut AnswerBuilder<T>, r: &Rec) -> Result<(), PushError> {
    let ttl = Ttl::from_secs(r.ttl);
    let owner = &r.owner;
    match &r.data {
        Data::Soa(d) => b.push((owner, Class::IN, ttl, d)),
        Data::Ns(d) => b.push((owner, Class::IN, ttl, d)),
        Data::A(d) => b.push((owner, Class::IN, ttl, d)),
        Data::Aaaa(d) => b.push((owner, Class::IN, ttl, d)),
        Data::Ds(d) => b.push((owner, Class::IN, ttl, d)),
    }
}

/// A published zone opened for reading: its serial, its SOA, and the rest of its lines.
pub struct Published {
    pub serial: u32,
    pub soa: Rec,
    lines: BufReader<File>,
}

fn read_line(r: &mut impl BufRead, line: &mut String) -> io::Result<usize> {
    let n = io::Read::take(&mut *r, crate::limits::ZONE_LINE_BYTES_MAX as u64).read_line(line)?;
    if n > 0 && !line.ends_with('\n') && n >= crate::limits::ZONE_LINE_BYTES_MAX {
        return Err(bad("line too long"));
    }
    Ok(n)
}

/// Opens the published file of `zone` in `dir`; None when nothing is published yet.
pub fn open_published(dir: &Path, zone: &str) -> io::Result<Option<Published>> {
    let f = match File::open(crate::zone::zone_file(dir, zone)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut lines = BufReader::with_capacity(256 * 1024, f);
    let mut line = String::new();
    read_line(&mut lines, &mut line)?;
    let header = render::parse_header(line.trim_end()).ok_or_else(|| bad("not a zone file written by nicbox"))?;
    loop {
        line.clear();
        if read_line(&mut lines, &mut line)? == 0 {
            return Err(bad("zone file without SOA"));
        }
        if let Some(r) = parse_record(&line)? {
            if !matches!(r.data, Data::Soa(_)) {
                return Err(bad("zone file does not start with its SOA"));
            }
            return Ok(Some(Published { serial: header.serial, soa: r, lines }));
        }
    }
}

impl Published {
    /// Every record after the SOA, in file order.
    fn for_each(&mut self, mut f: impl FnMut(&Rec) -> io::Result<()>) -> io::Result<()> {
        let mut line = String::new();
        loop {
            line.clear();
            if read_line(&mut self.lines, &mut line)? == 0 {
                return Ok(());
            }
            if let Some(r) = parse_record(&line)? {
                if matches!(r.data, Data::Soa(_)) {
                    return Err(bad("a second SOA in the zone file"));
                }
                f(&r)?;
            }
        }
    }
}

/// RFC 1982: whether serial `a` is newer than `b`.
pub fn serial_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// Packs records into answer messages to one query, signing each when the query was signed.
pub struct Stream<'a> {
    query: &'a Message<Vec<u8>>,
    tsig: Option<ServerSequence<Arc<Key>>>,
    current: Option<AnswerBuilder<HashCompressor<Vec<u8>>>>,
    sink: &'a mut dyn FnMut(Vec<u8>) -> bool,
    pub messages: u64,
    pub records: u64,
    pub bytes: u64,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the client is gone")
}

impl<'a> Stream<'a> {
    /// `sink` takes each finished message (without the TCP length prefix) and says whether to
    /// go on.
    pub fn new(
        query: &'a Message<Vec<u8>>,
        tsig: Option<ServerSequence<Arc<Key>>>,
        sink: &'a mut dyn FnMut(Vec<u8>) -> bool,
    ) -> Stream<'a> {
        Stream { query, tsig, current: None, sink, messages: 0, records: 0, bytes: 0 }
    }

    fn start(&self) -> io::Result<AnswerBuilder<HashCompressor<Vec<u8>>>> {
        let mut b = MessageBuilder::from_target(HashCompressor::new(Vec::with_capacity(SOFT_MESSAGE_BYTES + 1024)))
            .map_err(|_| bad("message buffer"))?;
        b.set_push_limit(usize::from(u16::MAX) - TSIG_ROOM);
        let mut a = b.start_answer(self.query, Rcode::NOERROR).map_err(|_| bad("cannot echo the question"))?;
        a.header_mut().set_aa(true);
        Ok(a)
    }

    pub fn push(&mut self, r: &Rec) -> io::Result<()> {
        if self.current.is_none() {
            self.current = Some(self.start()?);
        }
        let Some(b) = self.current.as_mut() else { return Err(bad("no message")) };
        if push_one(b, r).is_err() {
            self.flush()?;
            let mut b = self.start()?;
            push_one(&mut b, r).map_err(|_| bad("a record larger than a message"))?;
            self.current = Some(b);
        }
        self.records += 1;
        if self.current.as_ref().is_some_and(|b| b.as_slice().len() >= SOFT_MESSAGE_BYTES) {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let Some(b) = self.current.take() else { return Ok(()) };
        let mut add = b.additional();
        if let Some(t) = self.tsig.as_mut() {
            t.answer(&mut add, domain::rdata::tsig::Time48::now()).map_err(|_| bad("no room for the signature"))?;
        }
        let bytes = add.finish().into_target();
        self.messages += 1;
        self.bytes += bytes.len() as u64;
        if (self.sink)(bytes) { Ok(()) } else { Err(gone()) }
    }

    /// Sends what is left.
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// What a transfer query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Axfr,
    /// IXFR from the client's serial.
    Ixfr(u32),
}

/// What a transfer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub serial: u32,
    /// `AXFR`, `IXFR`, `IXFR (whole zone)` (the history for the client's serial is gone) or
    /// `IXFR (up to date)`.
    pub kind: &'static str,
    pub records: u64,
    pub messages: u64,
    pub bytes: u64,
}

/// Answers one transfer query for `zone` from the files in `dir`; None when the zone has no
/// publication yet.
pub fn transfer(
    dir: &Path,
    zone: &str,
    plan: Plan,
    query: &Message<Vec<u8>>,
    tsig: Option<ServerSequence<Arc<Key>>>,
    sink: &mut dyn FnMut(Vec<u8>) -> bool,
) -> io::Result<Option<Sent>> {
    let Some(mut zf) = open_published(dir, zone)? else { return Ok(None) };
    let serial = zf.serial;
    let soa = zf.soa.clone();
    let mut out = Stream::new(query, tsig, sink);
    let kind = match plan {
        Plan::Ixfr(client) if client == serial || serial_newer(client, serial) => {
            out.push(&soa)?;
            "IXFR (up to date)"
        }
        Plan::Ixfr(client) => match diff::chain(dir, zone, client, serial)? {
            Some(files) if !files.is_empty() => {
                // Both passes opened now: a purge during the transfer cannot take a file away.
                let removals = diff::Condensed::open(&files)?;
                let additions = diff::Condensed::open(&files)?;
                out.push(&soa)?;
                out.push(&soa.with_serial(client))?;
                for step in removals {
                    for line in step?.0 {
                        if let Some(r) = parse_record(&line)? {
                            out.push(&r)?;
                        }
                    }
                }
                out.push(&soa)?;
                for step in additions {
                    for line in step?.1 {
                        if let Some(r) = parse_record(&line)? {
                            out.push(&r)?;
                        }
                    }
                }
                out.push(&soa)?;
                "IXFR"
            }
            _ => {
                whole(&mut zf, &soa, &mut out)?;
                "IXFR (whole zone)"
            }
        },
        Plan::Axfr => {
            whole(&mut zf, &soa, &mut out)?;
            "AXFR"
        }
    };
    out.finish()?;
    Ok(Some(Sent { serial, kind, records: out.records, messages: out.messages, bytes: out.bytes }))
}

fn whole(zf: &mut Published, soa: &Rec, out: &mut Stream<'_>) -> io::Result<()> {
    out.push(soa)?;
    zf.for_each(|r| out.push(r))?;
    out.push(soa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_records() {
        let r = parse_record("pt. 3600 IN SOA a.dns.pt. hostmaster.dns.pt. 2026120201 3600 900 1209600 3600\n")
            .unwrap()
            .unwrap();
        assert!(matches!(&r.data, Data::Soa(s) if s.serial() == Serial(2026120201)));
        assert!(matches!(&r.with_serial(7).data, Data::Soa(s) if s.serial() == Serial(7)));
        let ds = parse_record("abc.pt. 86400 IN DS 12345 13 2 ABCDEF0123").unwrap().unwrap();
        assert!(matches!(&ds.data, Data::Ds(d) if d.digest() == &[0xab, 0xcd, 0xef, 0x01, 0x23][..]));
        assert!(parse_record("; delegations").unwrap().is_none());
        assert!(parse_record("abc.pt. 86400 IN TXT hello").is_err());
        assert!(parse_record("abc.pt. 86400 IN DS 1 13 2 ABC").is_err());
        assert!(parse_record("abc.pt. 86400 IN A 300.1.1.1").is_err());
        assert!(parse_record("abc.pt. x IN A 192.0.2.1").is_err());
    }

    #[test]
    fn serial_arithmetic() {
        assert!(serial_newer(2, 1));
        assert!(!serial_newer(1, 2));
        assert!(serial_newer(1, u32::MAX));
        assert!(!serial_newer(5, 5));
    }
}
