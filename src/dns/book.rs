//! What nicbox knows of its secondaries since it started: per secondary and zone, the last
//! query, the serial it has (from its IXFR queries and the transfers it took), the last NOTIFY.
//! In memory only (a restart forgets it, and the next refresh of each secondary fills it again);
//! the admin UI and `/metrics` read it, to show a secondary that is behind.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;

use super::server::canonical;
use super::xfr;
use crate::config::{DnsSettings, Settings};

/// What nicbox knows of one secondary and one zone since it started.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Seen {
    /// The last query (`SOA`, `IXFR`, `AXFR`, `NOTIFY`) and when (Unix seconds).
    pub last_query: Option<(String, i64)>,
    /// The serial the secondary has: the one it sent in its last IXFR, or the one of the last
    /// transfer it took whole.
    pub serial: Option<u32>,
    /// The last transfer sent: serial, kind, when.
    pub transferred: Option<(u32, String, i64)>,
    /// The last NOTIFY: serial, outcome, when.
    pub notified: Option<(u32, String, i64)>,
}

#[derive(Default)]
pub struct Book {
    seen: Mutex<BTreeMap<(String, String), Seen>>,
}

static BOOK: std::sync::OnceLock<Book> = std::sync::OnceLock::new();

/// The process's record of its secondaries.
pub fn book() -> &'static Book {
    BOOK.get_or_init(Book::default)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Book {
    /// The configured secondaries a query comes from: by key and address, else by key, else
    /// (unsigned) by address.
    fn who(p: &DnsSettings, peer: IpAddr, key: Option<&str>) -> Vec<String> {
        let peer = canonical(peer);
        let s = &p.secondaries;
        let by_both: Vec<String> = s
            .iter()
            .filter(|x| x.tsig.as_deref() == key && canonical(x.address.ip()) == peer)
            .map(|x| x.name.clone())
            .collect();
        if !by_both.is_empty() || key.is_none() {
            return by_both;
        }
        s.iter().filter(|x| x.tsig.as_deref() == key).map(|x| x.name.clone()).collect()
    }

    fn update(&self, who: Vec<String>, zone: &str, f: impl Fn(&mut Seen)) {
        let Ok(mut m) = self.seen.lock() else { return };
        for w in who {
            f(m.entry((w, zone.to_string())).or_default());
        }
    }

    pub(super) fn seen(
        &self,
        p: &DnsSettings,
        peer: IpAddr,
        key: Option<&str>,
        zone: &str,
        kind: &str,
        serial: Option<u32>,
    ) {
        let now = unix_now();
        self.update(Self::who(p, peer, key), zone, |s| {
            s.last_query = Some((kind.to_string(), now));
            if serial.is_some() {
                s.serial = serial;
            }
        });
    }

    pub(super) fn transferred(&self, p: &DnsSettings, peer: IpAddr, key: Option<&str>, zone: &str, sent: &xfr::Sent) {
        let now = unix_now();
        self.update(Self::who(p, peer, key), zone, |s| {
            s.serial = Some(sent.serial);
            s.transferred = Some((sent.serial, sent.kind.to_string(), now));
        });
    }

    /// Records the outcome of a NOTIFY to the secondary named `name`.
    pub fn notified(&self, name: &str, zone: &str, serial: u32, outcome: &str) {
        let now = unix_now();
        self.update(vec![name.to_string()], zone, |s| s.notified = Some((serial, outcome.to_string(), now)));
    }

    pub fn get(&self, name: &str, zone: &str) -> Seen {
        self.seen.lock().ok().and_then(|m| m.get(&(name.to_string(), zone.to_string())).cloned()).unwrap_or_default()
    }
}

/// One secondary and one zone, as the admin UI shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub secondary: String,
    pub address: String,
    pub zone: String,
    pub published: Option<u32>,
    pub seen: Seen,
    /// `in sync`, `behind`, `catching up` (behind, but within `behind_after_secs` of the
    /// publication) or `not seen` (no query since nicbox started).
    pub state: &'static str,
}

/// Every configured secondary × each of its zones. `published`: a zone's serial and the Unix
/// time of its publication.
pub fn rows(settings: &Settings, published: &dyn Fn(&str) -> Option<(u32, i64)>, now: i64) -> Vec<Row> {
    let Some(dns) = settings.dns.as_ref() else { return Vec::new() };
    let zones: Vec<String> = crate::zone::publish::zones_of(settings).into_iter().map(|(z, _, _)| z).collect();
    let mut out = Vec::new();
    for s in &dns.secondaries {
        for z in zones.iter().filter(|z| s.serves(z)) {
            let seen = book().get(&s.name, z);
            let p = published(z);
            let state = match (p, seen.serial, &seen.last_query) {
                (_, _, None) if seen.serial.is_none() => "not seen",
                (Some((serial, _)), Some(have), _) if have == serial => "in sync",
                (None, _, _) => "in sync",
                (Some((_, at)), _, _) if now - at < i64::from(dns.behind_after_secs) => "catching up",
                _ => "behind",
            };
            out.push(Row {
                secondary: s.name.clone(),
                address: s.address.to_string(),
                zone: z.clone(),
                published: p.map(|x| x.0),
                seen,
                state,
            });
        }
    }
    out
}
