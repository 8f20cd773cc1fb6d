//! Registrars' EPP credentials: an EPP password (argon2id, set by the operator or changed by the
//! registrar with `newPW`) and the SHA-256 fingerprints of the client certificates it may
//! connect with. The EPP front end asks [`Registry::epp_login`] and decides nothing itself.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::error::{Code, RegistryError, err};
use super::{Registry, random_bytes, random_code, record};
use crate::model::{Actor, EppAccess, Registrar};

/// Bounds of an EPP password: RFC 5730's `pwType` is 6 to 16 characters; longer ones travel in
/// loginSec (RFC 8807). The registry asks for at least 8.
pub const EPP_PASSWORD_MIN: usize = 8;
pub const EPP_PASSWORD_MAX: usize = 128;
/// Client certificates one registrar may pin (old and new during a rollover, a few systems).
pub const EPP_PINS_MAX: usize = 16;

/// Why a login was refused; the front end answers each with its result code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown registrar, wrong password or no password set: one answer for all three.
    BadCredentials,
    /// The connection's client certificate is not pinned for this registrar.
    CertificateNotPinned,
    /// The registrar is disabled.
    Disabled,
}

fn digest_password(password: &str) -> Result<String, RegistryError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| RegistryError::new(Code::Internal, format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| RegistryError::new(Code::Internal, format!("argon2: {e}")))
}

/// A password the registry accepts: printable ASCII without spaces at either end.
pub fn check_epp_password(p: &str) -> Result<(), RegistryError> {
    if !(EPP_PASSWORD_MIN..=EPP_PASSWORD_MAX).contains(&p.len()) {
        return err(
            Code::InvalidRequest,
            format!("an EPP password has {EPP_PASSWORD_MIN} to {EPP_PASSWORD_MAX} characters"),
        );
    }
    if !p.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return err(Code::InvalidRequest, "an EPP password is printable ASCII without spaces");
    }
    Ok(())
}

impl Registry {
    /// A registrar's EPP credentials (never the password: only whether one is set).
    pub fn epp_access(&self, id: &str) -> Result<Option<EppAccess>, RegistryError> {
        Ok(self.read()?.epp_access(id)?)
    }

    async fn epp_access_change(
        &self,
        id: &str,
        operation: &'static str,
        actor: Actor,
        change: impl FnOnce(&mut EppAccess) -> Result<(), RegistryError> + Send + 'static,
    ) -> Result<EppAccess, RegistryError> {
        let (id, now) = (id.to_string(), self.now());
        let mut change = Some(change);
        self.submit(move |tx| {
            if tx.registrar(&id)?.is_none() {
                return err(Code::NotFound, format!("no registrar {id}"));
            }
            let mut a = tx.epp_access(&id)?.unwrap_or_else(|| EppAccess {
                registrar: id.clone(),
                password_digest: None,
                fingerprints: Vec::new(),
                updated: now,
            });
            if let Some(f) = change.take() {
                f(&mut a)?;
            }
            a.updated = now;
            tx.put_epp_access(&a)?;
            record(tx, &format!("registrar:{id}"), operation, now, &actor, None, None, None, 0)?;
            Ok(a)
        })
        .await
    }

    /// Sets the EPP password: `password`, or a new random one of 16 characters (the longest a
    /// plain EPP login carries), returned once. Only its digest is stored.
    pub async fn epp_set_password(
        &self,
        id: &str,
        password: Option<&str>,
        actor: Actor,
    ) -> Result<String, RegistryError> {
        let password = match password {
            Some(p) => {
                check_epp_password(p)?;
                p.to_string()
            }
            None => random_code(16),
        };
        let digest = digest_password(&password)?;
        self.epp_access_change(id, "registrar.epp_password", actor, move |a| {
            a.password_digest = Some(digest);
            Ok(())
        })
        .await?;
        Ok(password)
    }

    /// Pins a client certificate (its SHA-256 fingerprint) for the registrar.
    pub async fn epp_pin(&self, id: &str, fingerprint: [u8; 32], actor: Actor) -> Result<EppAccess, RegistryError> {
        self.epp_access_change(id, "registrar.epp_pin", actor, move |a| {
            if !a.fingerprints.contains(&fingerprint) {
                if a.fingerprints.len() >= EPP_PINS_MAX {
                    return err(Code::InvalidRequest, format!("at most {EPP_PINS_MAX} pinned certificates"));
                }
                a.fingerprints.push(fingerprint);
            }
            Ok(())
        })
        .await
    }

    /// Removes a pinned certificate; sessions opened with it stay until they end.
    pub async fn epp_unpin(&self, id: &str, fingerprint: [u8; 32], actor: Actor) -> Result<EppAccess, RegistryError> {
        self.epp_access_change(id, "registrar.epp_unpin", actor, move |a| {
            let before = a.fingerprints.len();
            a.fingerprints.retain(|f| *f != fingerprint);
            if a.fingerprints.len() == before {
                return err(Code::NotFound, "that certificate is not pinned");
            }
            Ok(())
        })
        .await
    }

    /// Checks an EPP login: the registrar exists and is enabled, the connection's certificate
    /// is pinned for it, and the password matches. Runs argon2 (tens of milliseconds): call it
    /// off the async threads.
    pub fn epp_login(
        &self,
        id: &str,
        password: &str,
        fingerprint: &[u8; 32],
    ) -> Result<Result<Registrar, LoginRefusal>, RegistryError> {
        let read = self.read()?;
        let (registrar, access) = (read.registrar(id)?, read.epp_access(id)?);
        let digest = access.as_ref().and_then(|a| a.password_digest.as_deref());
        let ok = match digest {
            Some(d) => PasswordHash::new(d)
                .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
                .unwrap_or(false),
            None => {
                // The same time as a real check, so that a timing does not tell which ids exist.
                let _ = digest_password(password);
                false
            }
        };
        let Some(registrar) = registrar.filter(|_| ok) else {
            return Ok(Err(LoginRefusal::BadCredentials));
        };
        if !access.is_some_and(|a| a.fingerprints.contains(fingerprint)) {
            return Ok(Err(LoginRefusal::CertificateNotPinned));
        }
        if !registrar.enabled {
            return Ok(Err(LoginRefusal::Disabled));
        }
        Ok(Ok(registrar))
    }
}

impl Registry {
    /// A domain as EPP's `info` shows it to `registrar`: everything for the sponsor or for a
    /// client that gives the domain's auth code (RFC 5731 3.1.2), `full = false` for anyone
    /// else (who sees the name, ROID, statuses and sponsor only). A wrong auth code is refused.
    pub fn domain_info_for(
        &self,
        registrar: &str,
        name: &str,
        auth_code: Option<&str>,
    ) -> Result<(crate::model::Domain, bool), RegistryError> {
        use subtle::ConstantTimeEq;
        let key = self.name_key(name)?;
        let Some(d) = self.read()?.domain(&key)? else {
            return err(Code::NotFound, format!("{key} is not registered"));
        };
        if d.registrar == registrar {
            return Ok((d, true));
        }
        match auth_code {
            None => Ok((d, false)),
            Some(code) if bool::from(code.as_bytes().ct_eq(d.auth_code.as_bytes())) => Ok((d, true)),
            Some(_) => err(Code::BadAuthCode, "the auth code does not match"),
        }
    }
}
