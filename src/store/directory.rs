//! The public directory's snapshot (`Store::directory`): one read transaction with the three
//! tables a lookup reads already open, reused until the next commit.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use redb::{ReadOnlyTable, ReadableDatabase};

use super::tables::{CONTACTS, DOMAINS, REGISTRARS};
use super::{Store, StoreError, codec};
use crate::model::{ContactView, DomainView, Registrar};

/// A domain, its distinct contacts and its registrar's name (when the registrar exists).
/// One read snapshot with the tables a directory lookup reads already open (`Store::directory`).
pub struct DirectorySnapshot {
    generation: u64,
    domains: ReadOnlyTable<&'static str, &'static [u8]>,
    contacts: ReadOnlyTable<&'static str, &'static [u8]>,
    registrars: ReadOnlyTable<&'static str, &'static [u8]>,
    /// Registrars' names read so far from this snapshot (a registry has a few dozen).
    registrar_names: Mutex<std::collections::HashMap<String, Option<Arc<str>>>>,
}

/// What a directory lookup reads, borrowed from the snapshot's pages: the domain, its distinct
/// contacts (in the order registrant, admin, tech) and its registrar's name if it has one.
pub struct DomainParties<'a> {
    pub domain: DomainView<'a>,
    pub contacts: Vec<ContactView<'a>>,
    pub registrar_name: Option<&'a str>,
}

impl<'a> DomainParties<'a> {
    /// One of the domain's contacts by handle.
    pub fn contact(&self, handle: &str) -> Option<&ContactView<'a>> {
        self.contacts.iter().find(|c| c.handle == handle)
    }
}

impl DirectorySnapshot {
    /// Calls `f` with a domain and its parties decoded as views of the stored bytes (nothing
    /// copied); `None` when the domain is not stored.
    pub fn with_domain_parties<R>(
        &self,
        name: &str,
        f: impl FnOnce(&DomainParties<'_>) -> R,
    ) -> Result<Option<R>, StoreError> {
        let Some(stored) = self.domains.get(name)? else { return Ok(None) };
        let domain: DomainView<'_> = codec::decode_view(stored.value())?;
        let mut guards = Vec::with_capacity(3);
        for handle in [Some(domain.registrant), Some(domain.admin), domain.tech].into_iter().flatten() {
            if !guards.iter().any(|(h, _)| *h == handle)
                && let Some(v) = self.contacts.get(handle)?
            {
                guards.push((handle, v));
            }
        }
        let contacts =
            guards.iter().map(|(_, v)| codec::decode_view(v.value())).collect::<Result<Vec<ContactView<'_>>, _>>()?;
        let registrar = self.registrar_name(domain.registrar)?;
        Ok(Some(f(&DomainParties { domain, contacts, registrar_name: registrar.as_deref() })))
    }

    fn registrar_name(&self, id: &str) -> Result<Option<Arc<str>>, StoreError> {
        if let Ok(names) = self.registrar_names.lock()
            && let Some(name) = names.get(id)
        {
            return Ok(name.clone());
        }
        let name = self
            .registrars
            .get(id)?
            .map(|v| codec::decode::<Registrar>(v.value()).map(|r| Arc::<str>::from(r.name)))
            .transpose()?;
        if let Ok(mut names) = self.registrar_names.lock() {
            names.insert(id.to_owned(), name.clone());
        }
        Ok(name)
    }
}

impl Store {
    /// A read snapshot of the latest committed state with the public directory's tables open.
    /// Directory lookups are the hottest reads and the most numerous: beginning a transaction and
    /// opening three tables cost more than the lookup itself, so one snapshot serves every lookup
    /// until the next commit. A lookup never sees older data than a fresh transaction would: a
    /// commit raises the generation before the writer answers, and a snapshot is labelled with
    /// the generation read before it was taken.
    pub fn directory(&self) -> Result<Arc<DirectorySnapshot>, StoreError> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Ok(cached) = self.directory.lock()
            && let Some(snap) = cached.as_ref()
            && snap.generation == generation
        {
            return Ok(snap.clone());
        }
        let txn = self.db.begin_read()?;
        let snap = Arc::new(DirectorySnapshot {
            generation,
            domains: txn.open_table(DOMAINS)?,
            contacts: txn.open_table(CONTACTS)?,
            registrars: txn.open_table(REGISTRARS)?,
            registrar_names: Mutex::new(std::collections::HashMap::new()),
        });
        if let Ok(mut cached) = self.directory.lock()
            && cached.as_ref().is_none_or(|c| c.generation <= generation)
        {
            *cached = Some(snap.clone());
        }
        Ok(snap)
    }
}
