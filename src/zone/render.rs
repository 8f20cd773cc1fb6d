//! A zone in presentation format, written and read back (pure, no I/O of its own).
//!
//! One record a line with absolute owner names, so the file reads alone and parses back without
//! `$ORIGIN`: first a comment line with the serial and the journal position the file covers,
//! then the apex (SOA, the TLD's NS and their addresses, delegations of second-level zones
//! published apart), then a `; delegations` line, then each delegation in name order: NS, DS,
//! then the glue of hosts inside the domain. The same delegations give the same bytes.

use std::io::{self, BufRead, Write};

use crate::config::TldZone;
use crate::model::{Delegation, Ds, Nameserver};

/// The line that separates the apex from the delegations.
pub const DELEGATIONS_MARK: &str = "; delegations";

/// What the first line of a published file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub serial: u32,
    pub journal_seq: u64,
}

/// Whether `name` is `zone` itself or below it.
pub fn in_zone(name: &str, zone: &str) -> bool {
    crate::registry::zone::host_needs_glue(name, zone)
}

/// Writes the first line, the apex records and the delegations mark. `children`: second-level
/// zones published apart, delegated from this zone to the TLD's nameservers.
pub fn write_apex(
    out: &mut impl Write,
    zone: &str,
    z: &TldZone,
    header: Header,
    children: &[String],
) -> io::Result<()> {
    writeln!(out, "; nicbox zone {zone} serial {} journal {}", header.serial, header.journal_seq)?;
    write_apex_body(out, zone, z, header.serial, children)
}

/// The apex without the first line (also what the content digest covers, with serial 0).
pub fn write_apex_body(
    out: &mut impl Write,
    zone: &str,
    z: &TldZone,
    serial: u32,
    children: &[String],
) -> io::Result<()> {
    writeln!(
        out,
        "{zone}. {} IN SOA {}. {}. {serial} {} {} {} {}",
        z.soa_ttl, z.primary, z.mailbox, z.refresh, z.retry, z.expire, z.minimum
    )?;
    for ns in &z.nameservers {
        writeln!(out, "{zone}. {} IN NS {}.", z.ttl, ns.name)?;
    }
    for ns in &z.nameservers {
        if in_zone(&ns.name, zone) && !children.iter().any(|c| in_zone(&ns.name, c)) {
            write_addresses(out, &ns.name, z.ttl, &ns.addresses)?;
        }
    }
    for child in children {
        for ns in &z.nameservers {
            writeln!(out, "{child}. {} IN NS {}.", z.ttl, ns.name)?;
        }
        for ns in &z.nameservers {
            if in_zone(&ns.name, child) {
                write_addresses(out, &ns.name, z.ttl, &ns.addresses)?;
            }
        }
    }
    writeln!(out, "{DELEGATIONS_MARK}")
}

fn write_addresses(out: &mut impl Write, host: &str, ttl: u32, addresses: &[std::net::IpAddr]) -> io::Result<()> {
    for a in addresses {
        let kind = if a.is_ipv4() { "A" } else { "AAAA" };
        writeln!(out, "{host}. {ttl} IN {kind} {a}")?;
    }
    Ok(())
}

/// Writes one delegation: NS, DS, then glue.
pub fn write_delegation(out: &mut impl Write, name: &str, ttl: u32, d: &Delegation) -> io::Result<()> {
    for ns in &d.ns {
        writeln!(out, "{name}. {ttl} IN NS {}.", ns.name)?;
    }
    for ds in &d.ds {
        writeln!(out, "{name}. {ttl} IN DS {} {} {} {}", ds.key_tag, ds.algorithm, ds.digest_type, ds.digest)?;
    }
    for ns in &d.ns {
        write_addresses(out, &ns.name, ttl, &ns.addresses)?;
    }
    Ok(())
}

/// Reads a published file back: its header, then its delegations in file order.
pub struct Reader<R> {
    lines: R,
    line: String,
    current: Option<(String, Delegation)>,
    done: bool,
    pub header: Header,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl<R: BufRead> Reader<R> {
    /// Reads up to the delegations mark; fails on a file nicbox did not write.
    pub fn open(mut lines: R) -> io::Result<Reader<R>> {
        let mut line = String::new();
        read_line(&mut lines, &mut line)?;
        let header = parse_header(line.trim_end()).ok_or_else(|| bad("not a zone file written by nicbox"))?;
        loop {
            line.clear();
            if read_line(&mut lines, &mut line)? == 0 {
                return Err(bad("no delegations mark"));
            }
            if line.trim_end() == DELEGATIONS_MARK {
                break;
            }
        }
        Ok(Reader { lines, line, current: None, done: false, header })
    }

    fn parse_record(&mut self) -> io::Result<Option<(String, Delegation)>> {
        let text = self.line.trim_end();
        if text.is_empty() || text.starts_with(';') {
            return Ok(None);
        }
        let mut f = text.split_ascii_whitespace();
        let (Some(owner), Some(_ttl), Some(_class), Some(kind)) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(bad(format!("unreadable line: {text}")));
        };
        let owner = owner.trim_end_matches('.');
        match kind {
            "NS" | "DS" => {
                let mut finished = None;
                if self.current.as_ref().is_none_or(|(n, _)| n != owner) {
                    finished = self.current.replace((owner.to_string(), Delegation::default()));
                }
                let Some((_, d)) = self.current.as_mut() else { return Err(bad("no delegation")) };
                if kind == "NS" {
                    let host = f.next().ok_or_else(|| bad(format!("NS without a target: {text}")))?;
                    d.ns.push(Nameserver { name: host.trim_end_matches('.').to_string(), addresses: Vec::new() });
                } else {
                    let mut num = || f.next().ok_or_else(|| bad(format!("short DS: {text}")));
                    let key_tag = num()?.parse().map_err(|_| bad(format!("bad DS: {text}")))?;
                    let algorithm = num()?.parse().map_err(|_| bad(format!("bad DS: {text}")))?;
                    let digest_type = num()?.parse().map_err(|_| bad(format!("bad DS: {text}")))?;
                    let digest = num()?.to_string();
                    d.ds.push(Ds { key_tag, algorithm, digest_type, digest });
                }
                Ok(finished)
            }
            "A" | "AAAA" => {
                let addr: std::net::IpAddr =
                    f.next().and_then(|a| a.parse().ok()).ok_or_else(|| bad(format!("bad address: {text}")))?;
                let Some((_, d)) = self.current.as_mut() else {
                    return Err(bad(format!("glue outside a delegation: {text}")));
                };
                let Some(ns) = d.ns.iter_mut().find(|n| n.name == owner) else {
                    return Err(bad(format!("glue for a host the delegation does not name: {text}")));
                };
                ns.addresses.push(addr);
                Ok(None)
            }
            other => Err(bad(format!("unexpected record type {other}: {text}"))),
        }
    }
}

fn read_line<R: BufRead>(r: &mut R, line: &mut String) -> io::Result<usize> {
    let n = std::io::Read::take(&mut *r, crate::limits::ZONE_LINE_BYTES_MAX as u64).read_line(line)?;
    if n > 0 && !line.ends_with('\n') && n >= crate::limits::ZONE_LINE_BYTES_MAX {
        return Err(bad("line too long"));
    }
    Ok(n)
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = io::Result<(String, Delegation)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return self.current.take().map(Ok);
            }
            self.line.clear();
            match read_line(&mut self.lines, &mut self.line) {
                Ok(0) => self.done = true,
                Ok(_) => match self.parse_record() {
                    Ok(Some(d)) => return Some(Ok(d)),
                    Ok(None) => {}
                    Err(e) => {
                        self.done = true;
                        self.current = None;
                        return Some(Err(e));
                    }
                },
                Err(e) => {
                    self.done = true;
                    self.current = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// `; nicbox zone pt serial 2026120201 journal 42`
pub fn parse_header(line: &str) -> Option<Header> {
    let rest = line.strip_prefix("; nicbox zone ")?;
    let mut f = rest.split_ascii_whitespace();
    let _zone = f.next()?;
    (f.next()? == "serial").then_some(())?;
    let serial = f.next()?.parse().ok()?;
    (f.next()? == "journal").then_some(())?;
    let journal_seq = f.next()?.parse().ok()?;
    Some(Header { serial, journal_seq })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> TldZone {
        TldZone {
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
        }
    }

    #[test]
    fn written_delegations_read_back_equal() {
        let ds = Ds { key_tag: 1, algorithm: 13, digest_type: 2, digest: "AB".repeat(32) };
        let a = Delegation {
            ns: vec![
                Nameserver {
                    name: "ns1.abc.pt".into(),
                    addresses: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
                },
                Nameserver { name: "ns2.example.net".into(), addresses: vec![] },
            ],
            ds: vec![ds],
        };
        let b = Delegation { ns: vec![Nameserver { name: "ns.x.net".into(), addresses: vec![] }], ds: vec![] };
        let mut out = Vec::new();
        write_apex(&mut out, "pt", &zone(), Header { serial: 7, journal_seq: 9 }, &["com.pt".into()]).unwrap();
        write_delegation(&mut out, "abc.pt", 86_400, &a).unwrap();
        write_delegation(&mut out, "b.com.pt", 86_400, &b).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("com.pt. 86400 IN NS a.dns.pt.\n"), "{text}");
        assert!(text.contains("a.dns.pt. 86400 IN A 192.0.2.53\n"), "{text}");
        let r = Reader::open(std::io::Cursor::new(out)).unwrap();
        assert_eq!(r.header, Header { serial: 7, journal_seq: 9 });
        let got: Vec<_> = r.map(|x| x.unwrap()).collect();
        assert_eq!(got, vec![("abc.pt".to_string(), a), ("b.com.pt".to_string(), b)]);
    }

    #[test]
    fn foreign_or_damaged_files_are_refused() {
        assert!(Reader::open(std::io::Cursor::new(b"pt. 3600 IN SOA a. b. 1 2 3 4 5\n".to_vec())).is_err());
        let mut out = Vec::new();
        write_apex(&mut out, "pt", &zone(), Header { serial: 1, journal_seq: 0 }, &[]).unwrap();
        out.extend_from_slice(b"x.pt. 86400 IN A 192.0.2.9\n");
        let mut r = Reader::open(std::io::Cursor::new(out)).unwrap();
        assert!(r.next().unwrap().is_err());
    }
}
