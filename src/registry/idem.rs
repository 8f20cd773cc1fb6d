//! Idempotent retries: a command sent with an Idempotency-Key (the registrar API's header) runs
//! once per registrar and key; a repeat gets the first result. Domain, contact and lifecycle
//! commands all use it, so it lives apart from them (and `contacts` need not import `lifecycle`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Code, RegistryError, err};
use crate::model::{IdempotencyRecord, Timestamp};
use crate::store::{WriteTx, codec};

/// An Idempotency-Key with the fingerprint of the request that carried it.
#[derive(Debug, Clone)]
pub struct Idem {
    pub key: String,
    pub fingerprint: [u8; 32],
}

/// Runs `f` once per (registrar, key): a repeat of the same request returns the first result
/// and changes nothing; the same key with another request is refused. The record is written in
/// the same transaction as the command, so a retried request can never charge twice.
pub(crate) fn idempotent<T, F>(
    tx: &mut WriteTx,
    registrar: &str,
    idem: Option<&Idem>,
    now: Timestamp,
    f: F,
) -> Result<T, RegistryError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&mut WriteTx) -> Result<T, RegistryError>,
{
    let Some(idem) = idem else { return f(tx) };
    if let Some(rec) = tx.idempotency(registrar, &idem.key)? {
        if rec.fingerprint != idem.fingerprint {
            return err(Code::Conflict, "this Idempotency-Key was already used for a different request");
        }
        return Ok(codec::decode(&rec.outcome)?);
    }
    let value = f(tx)?;
    let rec = IdempotencyRecord { at: now, fingerprint: idem.fingerprint, outcome: codec::encode(&value)? };
    tx.put_idempotency(registrar, &idem.key, &rec)?;
    Ok(value)
}
