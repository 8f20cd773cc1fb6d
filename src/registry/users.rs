//! Admin-UI users: created from the command line, passwords hashed with argon2id.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::error::{Code, RegistryError, err};
use super::{Registry, random_bytes, random_code, record};
use crate::model::{Actor, Role, User};

fn hash_password(password: &str) -> Result<String, RegistryError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| RegistryError::new(Code::Internal, format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| RegistryError::new(Code::Internal, format!("argon2: {e}")))
}

fn valid_user_name(n: &str) -> bool {
    (2..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

impl Registry {
    /// Creates a user with a random password, returned once.
    pub async fn user_add(&self, name: &str, role: Role, actor: Actor) -> Result<(User, String), RegistryError> {
        if !valid_user_name(name) {
            return err(Code::InvalidRequest, "user name: 2 to 64 of letters, digits, '-', '_', '.', '@'");
        }
        let password = random_code(20);
        let hash = hash_password(&password)?;
        let now = self.now();
        let name = name.to_string();
        let user = self
            .submit(move |tx| {
                if tx.user(&name)?.is_some() {
                    return err(Code::Conflict, format!("user {name} exists"));
                }
                let u = User { name: name.clone(), role, password_hash: hash.clone(), created: now, enabled: true };
                tx.put_user(&u)?;
                record(tx, &format!("user:{name}"), "user.create", now, &actor, None, None, None, 0)?;
                Ok(u)
            })
            .await?;
        Ok((user, password))
    }

    /// The user whose name and password these are, if enabled. Runs argon2 (tens of
    /// milliseconds): call it off the async threads.
    pub fn user_verify(&self, name: &str, password: &str) -> Result<Option<User>, RegistryError> {
        let Some(u) = self.read()?.user(name)? else {
            // Spend the same time as a real check, so a timing does not tell which names exist.
            let _ = hash_password(password);
            return Ok(None);
        };
        let ok = PasswordHash::new(&u.password_hash)
            .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false);
        Ok((ok && u.enabled).then_some(u))
    }

    pub fn users(&self) -> Result<Vec<User>, RegistryError> {
        Ok(self.read()?.users()?)
    }
}
