//! Contacts: created, read and changed by the registrar that owns them, and by no one else.

use serde::Deserialize;

use super::error::{Code, RegistryError, err};
use super::{Registry, record, validate};
use crate::limits::HANDLE_CHARS_MAX;
use crate::model::{Actor, Contact, ContactKind, Snapshot, Timestamp};
use crate::policy::{check_fiscal_id, is_country_code};
use crate::store::WriteTx;

/// A contact as a registrar submits it (CONTRACT.md section 3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// Optional: the registry assigns one when absent.
    #[serde(default)]
    pub handle: Option<String>,
    pub kind: ContactKind,
    pub name: String,
    #[serde(default)]
    pub organization: Option<String>,
    pub street: Vec<String>,
    pub city: String,
    pub postal_code: String,
    pub country_code: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub fiscal_id: Option<String>,
}

/// A change to a contact: each field given replaces the stored one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    pub name: Option<String>,
    pub organization: Option<String>,
    pub street: Option<Vec<String>>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub country_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub fiscal_id: Option<String>,
}

/// Checks every field and builds the stored contact (handle and registrar filled by the caller).
fn build(input: &ContactInput, handle: String, registrar: &str, now: Timestamp) -> Result<Contact, RegistryError> {
    let country_code = input.country_code.trim().to_ascii_uppercase();
    if !is_country_code(&country_code) {
        return err(Code::InvalidContact, format!("country_code `{}` is not an ISO 3166-1 code", input.country_code));
    }
    let fiscal_id = match input.fiscal_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => {
            let id: String = id.chars().filter(|c| !c.is_whitespace()).collect();
            check_fiscal_id(&country_code, &id)?;
            Some(id)
        }
    };
    let organization = match &input.organization {
        Some(o) => validate::optional_text("organization", o)?,
        None => None,
    };
    let name = validate::text("name", &input.name)?;
    let postal_code = validate::text("postal_code", &input.postal_code)?;
    if postal_code.len() > 16 {
        return err(Code::InvalidContact, "postal_code is longer than 16 characters");
    }
    Ok(Contact {
        handle,
        registrar: registrar.to_string(),
        kind: input.kind,
        organization: if input.kind == ContactKind::Organization {
            organization.or_else(|| Some(name.clone()))
        } else {
            organization
        },
        name,
        street: validate::street(&input.street)?,
        city: validate::text("city", &input.city)?,
        postal_code,
        country_code,
        email: validate::email(&input.email)?,
        phone: match input.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(validate::phone(p)?),
        },
        fiscal_id,
        created: now,
        updated: now,
    })
}

fn valid_handle(h: &str) -> bool {
    (3..=HANDLE_CHARS_MAX).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Creates a contact inside a write transaction (shared by the API and the importer).
pub(super) fn create_in(
    tx: &mut WriteTx,
    registrar: &str,
    contact: &Contact,
    requested_handle: Option<&str>,
    actor: &Actor,
) -> Result<Contact, RegistryError> {
    let mut c = contact.clone();
    match requested_handle {
        Some(h) => {
            if !valid_handle(h) {
                return err(
                    Code::InvalidContact,
                    format!("handle `{h}`: 3 to {HANDLE_CHARS_MAX} letters, digits, '-' or '_'"),
                );
            }
            if tx.contact(h)?.is_some() {
                return err(Code::NotAvailable, format!("contact handle {h} is taken"));
            }
            c.handle = h.to_string();
        }
        None => {
            // Sequence numbers are never reused; an imported handle may have taken one already.
            loop {
                let n = tx.next_seq("contact")?;
                let h = format!("C{n:07}");
                if tx.contact(&h)?.is_none() {
                    c.handle = h;
                    break;
                }
            }
        }
    }
    c.registrar = registrar.to_string();
    tx.put_contact(&c)?;
    record(
        tx,
        &format!("contact:{}", c.handle),
        "contact.create",
        c.created,
        actor,
        None,
        None,
        Some(Snapshot::Contact(Box::new(c.clone()))),
        0,
    )?;
    Ok(c)
}

impl Registry {
    pub async fn contact_create(&self, registrar: &str, input: ContactInput) -> Result<Contact, RegistryError> {
        self.contact_create_idem(registrar, input, None).await
    }

    /// Creates a contact; a repeat with the same Idempotency-Key returns the first answer.
    pub async fn contact_create_idem(
        &self,
        registrar: &str,
        input: ContactInput,
        idem: Option<super::Idem>,
    ) -> Result<Contact, RegistryError> {
        let now = self.now();
        let contact = build(&input, String::new(), registrar, now)?;
        if let Some(h) = &input.handle
            && !valid_handle(h)
        {
            return err(
                Code::InvalidContact,
                format!("handle `{h}`: 3 to {HANDLE_CHARS_MAX} letters, digits, '-' or '_'"),
            );
        }
        let registrar = registrar.to_string();
        let actor = Actor::Registrar(registrar.clone());
        self.submit(move |tx| {
            super::idem::idempotent(tx, &registrar, idem.as_ref(), now, |tx| {
                create_in(tx, &registrar, &contact, input.handle.as_deref(), &actor)
            })
        })
        .await
    }

    /// A registrar's own contact; another registrar's contact is `not_found` (handles are private).
    pub fn contact_get(&self, registrar: &str, handle: &str) -> Result<Contact, RegistryError> {
        match self.read()?.contact(handle)? {
            Some(c) if c.registrar == registrar => Ok(c),
            _ => err(Code::NotFound, format!("no contact {handle}")),
        }
    }

    /// Any contact, for the registry's own use (directory, admin UI).
    pub fn contact_any(&self, handle: &str) -> Result<Option<Contact>, RegistryError> {
        Ok(self.read()?.contact(handle)?)
    }

    pub fn contact_list(
        &self,
        registrar: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Contact>, RegistryError> {
        let r = self.read()?;
        let mut out = Vec::new();
        for h in r.contact_handles_of(registrar, after, limit)? {
            if let Some(c) = r.contact(&h)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Whether a contact is a party to any domain (EPP's `linked` status).
    pub fn contact_in_use(&self, handle: &str) -> Result<bool, RegistryError> {
        Ok(!self.read()?.domains_using(handle, 1)?.is_empty())
    }

    /// Deletes a contact of the registrar that is on no domain (`status_prohibits` otherwise:
    /// EPP's 2305). Its history stays; its handle may be taken again.
    pub async fn contact_delete(&self, registrar: &str, handle: &str) -> Result<(), RegistryError> {
        let (now, registrar, handle) = (self.now(), registrar.to_string(), handle.to_string());
        self.submit(move |tx| {
            let old = match tx.contact(&handle)? {
                Some(c) if c.registrar == registrar => c,
                _ => return err(Code::NotFound, format!("no contact {handle}")),
            };
            if let Some(d) = tx.domains_using(&handle, 1)?.first() {
                return err(Code::ContactInUse, format!("contact {handle} is a contact of {d}"));
            }
            tx.remove_contact(&old)?;
            record(
                tx,
                &format!("contact:{handle}"),
                "contact.delete",
                now,
                &Actor::Registrar(registrar.clone()),
                None,
                None,
                None,
                0,
            )?;
            Ok(())
        })
        .await
    }

    pub async fn contact_update(
        &self,
        registrar: &str,
        handle: &str,
        patch: ContactPatch,
    ) -> Result<Contact, RegistryError> {
        let now = self.now();
        let registrar = registrar.to_string();
        let handle = handle.to_string();
        self.submit(move |tx| {
            let old = match tx.contact(&handle)? {
                Some(c) if c.registrar == registrar => c,
                _ => return err(Code::NotFound, format!("no contact {handle}")),
            };
            let p = patch.clone();
            let input = ContactInput {
                handle: None,
                kind: old.kind,
                name: p.name.unwrap_or_else(|| old.name.clone()),
                organization: p.organization.or_else(|| old.organization.clone()),
                street: p.street.unwrap_or_else(|| old.street.clone()),
                city: p.city.unwrap_or_else(|| old.city.clone()),
                postal_code: p.postal_code.unwrap_or_else(|| old.postal_code.clone()),
                country_code: p.country_code.unwrap_or_else(|| old.country_code.clone()),
                email: p.email.unwrap_or_else(|| old.email.clone()),
                phone: p.phone.or_else(|| old.phone.clone()),
                fiscal_id: p.fiscal_id.or_else(|| old.fiscal_id.clone()),
            };
            let mut new = build(&input, old.handle.clone(), &registrar, now)?;
            new.created = old.created;
            if new.fiscal_id != old.fiscal_id {
                let used = tx.domains_using(&handle, usize::MAX)?;
                if let (Some(domain), None) = (used.first(), &new.fiscal_id) {
                    return err(
                        Code::MissingFiscalId,
                        format!("contact {handle} is used by {domain}: its fiscal_id can be corrected, not removed"),
                    );
                }
                for name in &used {
                    if tx.domain(name)?.is_some_and(|d| d.registrant == handle) {
                        // The holder's identity changes: that is a registrant change, with its own rules.
                        return err(
                            Code::InvalidContact,
                            format!(
                                "contact {handle} holds {name}: a new fiscal_id for the holder is a registrant change (POST /api/v1/domains/{name}/registrant)"
                            ),
                        );
                    }
                }
            }
            tx.put_contact(&new)?;
            record(
                tx,
                &format!("contact:{handle}"),
                "contact.update",
                now,
                &Actor::Registrar(registrar.clone()),
                None,
                Some(Snapshot::Contact(Box::new(old))),
                Some(Snapshot::Contact(Box::new(new.clone()))),
                0,
            )?;
            Ok(new)
        })
        .await
    }

    /// Validates a contact as the importer sees it (the same rules as the API).
    pub(crate) fn contact_build(
        input: &ContactInput,
        registrar: &str,
        now: Timestamp,
    ) -> Result<Contact, RegistryError> {
        build(input, String::new(), registrar, now)
    }
}
