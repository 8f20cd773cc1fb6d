//! Registrars: accounts, API keys, balances and the ledger of every movement.
//!
//! An API key is `nbx_<registrar id>_<secret>`, the secret 256 random bits (base64url). Only the
//! SHA-256 digest of the secret is stored; a request's key is found by its id part and its digest
//! compared in constant time. argon2 is for passwords: a per-request cost of milliseconds would
//! be the wrong trade for a random token that cannot be guessed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{Code, RegistryError, err};
use super::{Registry, random_bytes, record};
use crate::limits::REGISTRAR_ID_CHARS_MAX;
use crate::model::{Actor, LedgerEntry, Prices, Registrar, Snapshot, Timestamp};
use crate::store::{StoreError, WriteTx};

/// An API key, shown once.
#[derive(Debug, Clone)]
pub struct ApiKey(pub String);

#[derive(Debug, Clone)]
pub struct NewRegistrar {
    pub id: String,
    pub name: String,
    pub email: String,
    pub balance_cents: i64,
}

const KEY_PREFIX: &str = "nbx_";

fn new_key(id: &str) -> (ApiKey, [u8; 32]) {
    let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    (ApiKey(format!("{KEY_PREFIX}{id}_{secret}")), digest)
}

pub fn valid_registrar_id(id: &str) -> bool {
    (2..=REGISTRAR_ID_CHARS_MAX).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

fn snapshot(r: &Registrar) -> Snapshot {
    Snapshot::Registrar { id: r.id.clone(), name: r.name.clone(), balance_cents: r.balance_cents, enabled: r.enabled }
}

/// Moves a registrar's balance (negative: a charge) with its ledger entry. Writes only.
#[allow(clippy::too_many_arguments)]
pub(super) fn charge(
    tx: &mut WriteTx,
    reg: &mut Registrar,
    amount_cents: i64,
    operation: &str,
    domain: Option<&str>,
    actor: &Actor,
    now: Timestamp,
    reason: &str,
) -> Result<(), StoreError> {
    if amount_cents == 0 {
        return Ok(());
    }
    reg.balance_cents += amount_cents;
    tx.put_registrar(reg)?;
    let seq = tx.next_seq("ledger")?;
    tx.append_ledger(&LedgerEntry {
        seq,
        at: now,
        registrar: reg.id.clone(),
        amount_cents,
        balance_after_cents: reg.balance_cents,
        operation: operation.to_string(),
        domain: domain.map(str::to_string),
        actor: actor.clone(),
        reason: reason.to_string(),
    })
}

impl Registry {
    /// Creates a registrar and returns its API key (shown once).
    pub async fn registrar_add(&self, new: NewRegistrar, actor: Actor) -> Result<(Registrar, ApiKey), RegistryError> {
        if !valid_registrar_id(&new.id) {
            return err(
                Code::InvalidRequest,
                format!("registrar id `{}`: 2 to {REGISTRAR_ID_CHARS_MAX} of a-z, 0-9 and '-'", new.id),
            );
        }
        let name = new.name.trim().to_string();
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return err(Code::InvalidRequest, "registrar name: 1 to 255 printable characters");
        }
        if new.balance_cents < 0 {
            return err(Code::InvalidRequest, "the opening balance cannot be negative");
        }
        let (key, digest) = new_key(&new.id);
        let now = self.now();
        let reg = self
            .submit(move |tx| {
                if tx.registrar(&new.id)?.is_some() {
                    return err(Code::Conflict, format!("registrar {} exists", new.id));
                }
                let mut r = Registrar {
                    id: new.id.clone(),
                    name: name.clone(),
                    api_key_digest: digest,
                    balance_cents: 0,
                    prices: Default::default(),
                    email: new.email.clone(),
                    created: now,
                    enabled: true,
                };
                tx.put_registrar(&r)?;
                record(
                    tx,
                    &format!("registrar:{}", r.id),
                    "registrar.create",
                    now,
                    &actor,
                    None,
                    None,
                    Some(snapshot(&r)),
                    0,
                )?;
                charge(tx, &mut r, new.balance_cents, "registrar.credit", None, &actor, now, "opening balance")?;
                Ok(r)
            })
            .await?;
        Ok((reg, key))
    }

    /// The registrar an API key belongs to; `unauthorized` for anything else.
    pub fn authenticate(&self, key: &str) -> Result<Registrar, RegistryError> {
        let unauthorized = || RegistryError::new(Code::Unauthorized, "missing or invalid API key");
        let rest = key.strip_prefix(KEY_PREFIX).ok_or_else(unauthorized)?;
        let (id, secret) = rest.split_once('_').ok_or_else(unauthorized)?;
        if !valid_registrar_id(id) || secret.len() > 128 {
            return Err(unauthorized());
        }
        let reg = self.read()?.registrar(id)?.ok_or_else(unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if bool::from(digest.ct_eq(&reg.api_key_digest)) && reg.enabled { Ok(reg) } else { Err(unauthorized()) }
    }

    pub fn registrar_get(&self, id: &str) -> Result<Registrar, RegistryError> {
        self.read()?.registrar(id)?.ok_or_else(|| RegistryError::new(Code::NotFound, format!("no registrar {id}")))
    }

    pub fn registrars(&self) -> Result<Vec<Registrar>, RegistryError> {
        Ok(self.read()?.registrars()?)
    }

    /// The prices a registrar pays, per TLD of the registry.
    pub fn registrar_prices(&self, reg: &Registrar) -> Vec<(String, Prices)> {
        self.settings().tlds.iter().map(|t| (t.name.clone(), self.prices_for(reg, &t.name))).collect()
    }

    /// Credits (or, negative, debits) a registrar's balance, with a reason in the ledger.
    pub async fn registrar_credit(
        &self,
        id: &str,
        amount_cents: i64,
        reason: &str,
        actor: Actor,
    ) -> Result<Registrar, RegistryError> {
        if amount_cents == 0 || amount_cents.abs() > 1_000_000_000 {
            return err(Code::InvalidRequest, "amount: non-zero cents, at most 1000000000 either way");
        }
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.len() > 255 {
            return err(Code::InvalidRequest, "a reason (1 to 255 bytes) is required");
        }
        let id = id.to_string();
        let now = self.now();
        self.submit(move |tx| {
            let Some(mut r) = tx.registrar(&id)? else {
                return err(Code::NotFound, format!("no registrar {id}"));
            };
            if r.balance_cents + amount_cents < 0 {
                return err(Code::InsufficientFunds, "the balance cannot go below zero");
            }
            let before = snapshot(&r);
            charge(tx, &mut r, amount_cents, "registrar.credit", None, &actor, now, &reason)?;
            record(
                tx,
                &format!("registrar:{id}"),
                "registrar.credit",
                now,
                &actor,
                None,
                Some(before),
                Some(snapshot(&r)),
                amount_cents,
            )?;
            Ok(r)
        })
        .await
    }

    /// Replaces a registrar's API key; the old one stops working at once.
    pub async fn registrar_rotate_key(&self, id: &str, actor: Actor) -> Result<ApiKey, RegistryError> {
        let (key, digest) = new_key(id);
        let id = id.to_string();
        let now = self.now();
        self.submit(move |tx| {
            let Some(mut r) = tx.registrar(&id)? else {
                return err(Code::NotFound, format!("no registrar {id}"));
            };
            r.api_key_digest = digest;
            tx.put_registrar(&r)?;
            record(tx, &format!("registrar:{id}"), "registrar.rotate_key", now, &actor, None, None, None, 0)?;
            Ok(())
        })
        .await?;
        Ok(key)
    }

    /// Sets a registrar's own prices for one TLD.
    pub async fn registrar_set_prices(
        &self,
        id: &str,
        tld: &str,
        prices: Prices,
        actor: Actor,
    ) -> Result<Registrar, RegistryError> {
        if self.settings().tld(tld).is_none() {
            return err(Code::InvalidRequest, format!("{tld} is not a TLD of this registry"));
        }
        let v = [prices.create, prices.create_premium, prices.renew, prices.transfer, prices.restore];
        if v.iter().any(|x| !(0..=100_000_000).contains(x)) {
            return err(Code::InvalidRequest, "prices are cents between 0 and 100000000");
        }
        let (id, tld) = (id.to_string(), tld.to_string());
        let now = self.now();
        self.submit(move |tx| {
            let Some(mut r) = tx.registrar(&id)? else {
                return err(Code::NotFound, format!("no registrar {id}"));
            };
            r.prices.insert(tld.clone(), prices);
            tx.put_registrar(&r)?;
            record(tx, &format!("registrar:{id}"), "registrar.prices", now, &actor, None, None, Some(snapshot(&r)), 0)?;
            Ok(r)
        })
        .await
    }

    pub fn ledger(&self, registrar: &str, limit: usize) -> Result<Vec<LedgerEntry>, RegistryError> {
        Ok(self.read()?.ledger(registrar, limit)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_registrar_id("ptisp"));
        assert!(valid_registrar_id("reg-01"));
        for bad in ["a", "Reg", "-a", "a-", "a_b", "a.b", &"a".repeat(33)] {
            assert!(!valid_registrar_id(bad), "{bad}");
        }
    }

    #[test]
    fn keys_carry_the_id_and_256_bits() {
        let (k, d) = new_key("ptisp");
        let secret = k.0.strip_prefix("nbx_ptisp_").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        assert_eq!(digest, d);
        assert_ne!(new_key("ptisp").0.0, k.0);
    }
}
