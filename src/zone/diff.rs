//! The differences between consecutive publications of a zone, kept for IXFR (RFC 1995).
//!
//! Each publication that replaces a readable previous one (same zone configuration) leaves a
//! file `DIR/.ixfr/<zone>.<from>-<to>.diff` beside the zone: for every name whose delegation
//! changed, in the zone file's name order, a `= name` line, the records it had (`- ` lines) and
//! the records it has now (`+ ` lines), each record exactly as the zone files write it. The
//! guard has already checked that the change journal explains each of these differences, so
//! the files are the journal condensed per publication, in the published files' own terms: what
//! an IXFR sends is exactly the difference between the two files a secondary would otherwise
//! transfer whole.
//!
//! Written beside the new zone file before it is moved into place (temporary name, fsync,
//! rename), so a difference never names a publication that did not happen... except that the
//! rename of the zone itself may still fail after it: a chain is only used when it ends at the
//! serial of the file being served. Kept for `keep_publications` publications and `keep_days`
//! days; a client whose serial is older gets the whole zone.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::model::{Delegation, Timestamp};

/// The directory of the difference files, inside the zones' directory.
pub fn diff_dir(dir: &Path) -> PathBuf {
    dir.join(".ixfr")
}

fn diff_file(dir: &Path, zone: &str, from: u32, to: u32) -> PathBuf {
    diff_dir(dir).join(format!("{zone}.{from}-{to}.diff"))
}

/// `pt.2026120201-2026120202.diff` → ("pt", 2026120201, 2026120202).
fn parse_file_name(name: &str) -> Option<(&str, u32, u32)> {
    let stem = name.strip_suffix(".diff")?;
    let (zone, serials) = stem.rsplit_once('.')?;
    let (from, to) = serials.split_once('-')?;
    Some((zone, from.parse().ok()?, to.parse().ok()?))
}

/// Writes the difference file of one publication while the export runs.
pub struct DiffWriter {
    tmp: PathBuf,
    file: PathBuf,
    out: BufWriter<File>,
    ttl: u32,
    buf: Vec<u8>,
    pub names: u64,
}

impl DiffWriter {
    pub fn create(dir: &Path, zone: &str, from: u32, to: u32, ttl: u32, at: Timestamp) -> io::Result<DiffWriter> {
        let d = diff_dir(dir);
        std::fs::create_dir_all(&d)?;
        let file = diff_file(dir, zone, from, to);
        let tmp = d.join(format!(".{zone}.{from}-{to}.diff.tmp"));
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
        writeln!(out, "; nicbox diff {zone} from {from} to {to} at {}", at.0)?;
        Ok(DiffWriter { tmp, file, out, ttl, buf: Vec::with_capacity(1024), names: 0 })
    }

    /// One name whose delegation differs between the two publications.
    pub fn write(&mut self, name: &str, before: Option<&Delegation>, after: Option<&Delegation>) -> io::Result<()> {
        writeln!(self.out, "= {name}")?;
        for (sign, d) in [("- ", before), ("+ ", after)] {
            let Some(d) = d else { continue };
            self.buf.clear();
            super::render::write_delegation(&mut self.buf, name, self.ttl, d)?;
            for line in self.buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                self.out.write_all(sign.as_bytes())?;
                self.out.write_all(line)?;
                self.out.write_all(b"\n")?;
            }
        }
        self.names += 1;
        Ok(())
    }

    /// Makes the file durable under its final name.
    pub fn commit(self) -> io::Result<PathBuf> {
        let f = self.out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&self.tmp, &self.file)?;
        if let Some(parent) = self.file.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(self.file)
    }

    /// Drops the file (the publication did not happen).
    pub fn discard(self) {
        let tmp = self.tmp.clone();
        drop(self.out);
        let _ = std::fs::remove_file(tmp);
    }
}

/// The kept differences of `zone`: (from, to, path), oldest publication first.
pub fn list(dir: &Path, zone: &str) -> io::Result<Vec<(u32, u32, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(diff_dir(dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((z, from, to)) = parse_file_name(name)
            && z == zone
        {
            out.push((from, to, e.path()));
        }
    }
    // Serials of one zone only go up, so the target serial orders the publications.
    out.sort_by_key(|(_, to, _)| *to);
    Ok(out)
}

/// The files leading from serial `from` to serial `to`, in order, when every step is kept.
pub fn chain(dir: &Path, zone: &str, from: u32, to: u32) -> io::Result<Option<Vec<PathBuf>>> {
    let all = list(dir, zone)?;
    let mut at = from;
    let mut files = Vec::new();
    while at != to {
        let Some((_, next, path)) = all.iter().find(|(f, _, _)| *f == at) else { return Ok(None) };
        if files.len() > all.len() {
            return Ok(None);
        }
        files.push(path.clone());
        at = *next;
    }
    Ok(Some(files))
}

/// Drops the differences beyond the newest `keep` of `zone`, and those older than `days`.
/// Returns how many were removed.
pub fn purge(dir: &Path, zone: &str, keep: u32, days: u32, now: Timestamp) -> io::Result<usize> {
    let all = list(dir, zone)?;
    let oldest = now.0.saturating_sub(i64::from(days) * 86_400);
    let mut removed = 0;
    let excess = all.len().saturating_sub(keep as usize);
    for (i, (_, _, path)) in all.iter().enumerate() {
        let old = i < excess || written_at(path).is_some_and(|t| t < oldest);
        if old {
            std::fs::remove_file(path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The time on a difference file's first line.
fn written_at(path: &Path) -> Option<i64> {
    let mut line = String::new();
    BufReader::new(File::open(path).ok()?).take_line(&mut line).ok()?;
    line.trim_end().rsplit_once(" at ").and_then(|(_, t)| t.parse().ok())
}

trait TakeLine {
    fn take_line(&mut self, line: &mut String) -> io::Result<usize>;
}

impl<R: BufRead> TakeLine for R {
    /// One line of at most the zone line bound.
    fn take_line(&mut self, line: &mut String) -> io::Result<usize> {
        let n = io::Read::take(&mut *self, crate::limits::ZONE_LINE_BYTES_MAX as u64).read_line(line)?;
        if n > 0 && !line.ends_with('\n') && n >= crate::limits::ZONE_LINE_BYTES_MAX {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        Ok(n)
    }
}

/// One name of a difference file: its records before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameDiff {
    pub name: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// Reads a difference file name by name.
pub struct DiffReader {
    lines: BufReader<File>,
    pending: Option<String>,
    line: String,
}

impl DiffReader {
    pub fn open(path: &Path) -> io::Result<DiffReader> {
        let mut lines = BufReader::with_capacity(64 * 1024, File::open(path)?);
        let mut line = String::new();
        lines.take_line(&mut line)?;
        if !line.starts_with("; nicbox diff ") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a difference file", path.display()),
            ));
        }
        Ok(DiffReader { lines, pending: None, line })
    }

    fn read_group(&mut self) -> io::Result<Option<NameDiff>> {
        let name = match self.pending.take() {
            Some(n) => n,
            None => loop {
                self.line.clear();
                if self.lines.take_line(&mut self.line)? == 0 {
                    return Ok(None);
                }
                let t = self.line.trim_end();
                if let Some(n) = t.strip_prefix("= ") {
                    break n.to_string();
                }
                if !t.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unexpected line: {t}")));
                }
            },
        };
        let mut d = NameDiff { name, before: Vec::new(), after: Vec::new() };
        loop {
            self.line.clear();
            if self.lines.take_line(&mut self.line)? == 0 {
                return Ok(Some(d));
            }
            let t = self.line.trim_end();
            if let Some(n) = t.strip_prefix("= ") {
                self.pending = Some(n.to_string());
                return Ok(Some(d));
            } else if let Some(r) = t.strip_prefix("- ") {
                d.before.push(r.to_string());
            } else if let Some(r) = t.strip_prefix("+ ") {
                d.after.push(r.to_string());
            } else if !t.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unexpected line: {t}")));
            }
        }
    }
}

impl Iterator for DiffReader {
    type Item = io::Result<NameDiff>;
    fn next(&mut self) -> Option<Self::Item> {
        self.read_group().transpose()
    }
}

/// The differences of a chain of publications condensed into one (RFC 1995 §4): per name, the
/// records of the oldest publication against those of the newest, merged name by name across
/// the files (each in name order), so memory holds one name per file. Names whose records end
/// as they began are left out.
pub struct Condensed {
    readers: Vec<std::iter::Peekable<DiffReader>>,
}

impl Condensed {
    pub fn open(files: &[PathBuf]) -> io::Result<Condensed> {
        let mut readers = Vec::with_capacity(files.len());
        for f in files {
            readers.push(DiffReader::open(f)?.peekable());
        }
        Ok(Condensed { readers })
    }

    fn step(&mut self) -> io::Result<Option<(Vec<String>, Vec<String>)>> {
        let mut least: Option<String> = None;
        for r in &mut self.readers {
            match r.peek() {
                Some(Ok(d)) if least.as_ref().is_none_or(|l| d.name < *l) => least = Some(d.name.clone()),
                Some(Ok(_)) => {}
                Some(Err(_)) => {
                    if let Some(Err(e)) = r.next() {
                        return Err(e);
                    }
                }
                None => {}
            }
        }
        let Some(name) = least else { return Ok(None) };
        let (mut before, mut after): (Option<Vec<String>>, Option<Vec<String>>) = (None, None);
        for r in &mut self.readers {
            if matches!(r.peek(), Some(Ok(d)) if d.name == name)
                && let Some(Ok(d)) = r.next()
            {
                if before.is_none() {
                    before = Some(d.before);
                }
                after = Some(d.after);
            }
        }
        let before: BTreeSet<String> = before.unwrap_or_default().into_iter().collect();
        let after: BTreeSet<String> = after.unwrap_or_default().into_iter().collect();
        let removed = before.difference(&after).cloned().collect();
        let added = after.difference(&before).cloned().collect();
        Ok(Some((removed, added)))
    }
}

impl Iterator for Condensed {
    /// (records removed, records added) for the next name that changed.
    type Item = io::Result<(Vec<String>, Vec<String>)>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step() {
                Ok(Some((r, a))) if r.is_empty() && a.is_empty() => continue,
                other => return other.transpose(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Nameserver;

    fn d(hosts: &[&str]) -> Delegation {
        Delegation {
            ns: hosts.iter().map(|h| Nameserver { name: h.to_string(), addresses: vec![] }).collect(),
            ds: vec![],
        }
    }

    #[test]
    fn chains_condense_to_the_net_change() {
        let dir = tempfile::tempdir().unwrap();
        let t = Timestamp(1_800_000_000);
        let mut w = DiffWriter::create(dir.path(), "pt", 1, 2, 300, t).unwrap();
        w.write("a.pt", Some(&d(&["ns1.x.net"])), Some(&d(&["ns2.x.net"]))).unwrap();
        w.write("b.pt", None, Some(&d(&["ns1.y.net"]))).unwrap();
        w.commit().unwrap();
        let mut w = DiffWriter::create(dir.path(), "pt", 2, 3, 300, t).unwrap();
        w.write("a.pt", Some(&d(&["ns2.x.net"])), Some(&d(&["ns3.x.net"]))).unwrap();
        w.write("b.pt", Some(&d(&["ns1.y.net"])), None).unwrap();
        w.write("c.pt", Some(&d(&["ns1.z.net"])), None).unwrap();
        w.commit().unwrap();
        // A publication of another zone and an abandoned one are not part of the chain.
        DiffWriter::create(dir.path(), "com.pt", 1, 2, 300, t).unwrap().commit().unwrap();
        DiffWriter::create(dir.path(), "pt", 3, 4, 300, t).unwrap().discard();
        let files = chain(dir.path(), "pt", 1, 3).unwrap().unwrap();
        assert_eq!(files.len(), 2);
        let got: Vec<_> = Condensed::open(&files).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(
            got,
            vec![
                (vec!["a.pt. 300 IN NS ns1.x.net.".to_string()], vec!["a.pt. 300 IN NS ns3.x.net.".to_string()]),
                (vec!["c.pt. 300 IN NS ns1.z.net.".to_string()], vec![]),
            ]
        );
        assert!(chain(dir.path(), "pt", 0, 3).unwrap().is_none());
        assert!(chain(dir.path(), "pt", 1, 4).unwrap().is_none());
        assert_eq!(chain(dir.path(), "pt", 3, 3).unwrap().unwrap().len(), 0);
        assert_eq!(purge(dir.path(), "pt", 1, 7, t).unwrap(), 1);
        assert!(chain(dir.path(), "pt", 1, 3).unwrap().is_none());
        assert!(chain(dir.path(), "pt", 2, 3).unwrap().is_some());
        assert_eq!(purge(dir.path(), "pt", 10, 1, t.add_days(2)).unwrap(), 1);
        assert!(list(dir.path(), "pt").unwrap().is_empty());
        assert_eq!(list(dir.path(), "com.pt").unwrap().len(), 1);
    }
}
