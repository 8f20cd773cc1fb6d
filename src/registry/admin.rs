//! The registry's side of the admin UI: sessions, the audit log of admin actions, domain search,
//! disclosure requests (POLICY.md section 4, point 6) and user management.
//!
//! Every admin action goes through a registry command that also appends to the `audit` history,
//! so the audit log is written in the same transaction as the change it describes.

use sha2::{Digest, Sha256};

use super::error::{Code, RegistryError, err};
use super::{Registry, random_bytes, random_code, record};
use crate::model::{
    Actor, DisclosureRequest, DisclosureState, Domain, HistoryEntry, Role, Session, Status, Timestamp, User,
};

/// How long an admin session lasts.
pub const SESSION_HOURS: i64 = 8;

/// Filters of the admin domain search.
#[derive(Debug, Clone, Default)]
pub struct DomainSearch {
    /// A name or the start of one, U-label or A-label.
    pub prefix: String,
    pub zone: Option<String>,
    pub status: Option<Status>,
    pub registrar: Option<String>,
    /// The last unicode name of the previous page.
    pub after: Option<String>,
}

/// Where [`Registry::domain_search`] takes its candidates from.
#[derive(Clone, Copy)]
enum Source<'a> {
    FewNameservers(u8),
    Status(Status),
    Registrar(&'a str),
    Prefix,
}

/// Domains examined by one search page at most (a filter that matches little stops there).
const SEARCH_SCAN_MAX: usize = 20_000;

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Registry {
    /// Appends an admin action to the audit log (inside a command).
    pub(crate) fn audit_in(
        tx: &mut crate::store::WriteTx,
        actor: &Actor,
        operation: &str,
        subject: &str,
        now: Timestamp,
    ) -> Result<(), RegistryError> {
        let seq = tx.next_seq("history")?;
        tx.append_history(
            "audit",
            &HistoryEntry {
                seq,
                at: now,
                actor: actor.clone(),
                operation: format!("{operation} {subject}"),
                roid: None,
                before: None,
                after: None,
                amount_cents: 0,
            },
        )?;
        Ok(())
    }

    /// Records an admin action in the audit log on its own (for actions whose command lives
    /// elsewhere, the front end calls this right after).
    pub async fn audit_action(&self, actor: Actor, operation: &str, subject: &str) -> Result<(), RegistryError> {
        let (operation, subject, now) = (operation.to_string(), subject.to_string(), self.now());
        self.submit(move |tx| Registry::audit_in(tx, &actor, &operation, &subject, now)).await
    }

    /// Every history entry of one object (`domain:NAME`...), oldest first.
    pub fn read_history(&self, object: &str) -> Result<Vec<HistoryEntry>, RegistryError> {
        Ok(self.read()?.history(object, crate::limits::HISTORY_ENTRIES_MAX)?)
    }

    /// The audit log, newest first.
    pub fn audit_log(&self, before: Option<u64>, limit: usize) -> Result<Vec<HistoryEntry>, RegistryError> {
        Ok(self.read()?.history_rev("audit", before, limit)?)
    }

    /// Opens a session for a signed-in user: (cookie token, session).
    pub async fn session_open(&self, user: &User) -> Result<(String, Session), RegistryError> {
        let token = crate::registry::random_token();
        // Sessions run on real time: moving a lab clock forward must not sign everyone out.
        let now = crate::clock::Clock::wall_now();
        let session = Session {
            user: user.name.clone(),
            csrf: random_code(32),
            created: now,
            expires: now.add_secs(SESSION_HOURS * 3_600),
        };
        let (d, s, actor) = (digest(&token), session.clone(), Actor::User(user.name.clone()));
        self.submit(move |tx| {
            tx.expire_sessions(now)?;
            tx.put_session(&d, &s)?;
            Registry::audit_in(tx, &actor, "signed in", "", now)?;
            Ok(())
        })
        .await?;
        Ok((token, session))
    }

    /// The session and user of a cookie token, if it is valid now.
    pub fn session_get(&self, token: &str) -> Result<Option<(Session, User)>, RegistryError> {
        if token.len() > 128 {
            return Ok(None);
        }
        let r = self.read()?;
        let Some(s) = r.session(&digest(token))? else { return Ok(None) };
        if s.expires < crate::clock::Clock::wall_now() {
            return Ok(None);
        }
        match r.user(&s.user)? {
            Some(u) if u.enabled => Ok(Some((s, u))),
            _ => Ok(None),
        }
    }

    pub async fn session_close(&self, token: &str, user: &str) -> Result<(), RegistryError> {
        let (d, now, actor) = (digest(token), crate::clock::Clock::wall_now(), Actor::User(user.to_string()));
        self.submit(move |tx| {
            tx.remove_session(&d)?;
            Registry::audit_in(tx, &actor, "signed out", "", now)
        })
        .await
    }

    /// Admin domain search: by name prefix (U-label or A-label), zone, status, registrar, paged.
    pub fn domain_search(&self, q: &DomainSearch, limit: usize) -> Result<Vec<Domain>, RegistryError> {
        let r = self.read()?;
        let prefix = q.prefix.trim().trim_end_matches('.').to_lowercase();
        // A full name typed as an A-label finds its U-label too.
        let prefix = match self.policy().parse(&prefix) {
            Ok(n) if n.is_idn() && prefix.starts_with("xn--") => n.unicode,
            _ => prefix,
        };
        let min_ns = |tld: &str| {
            self.policy().tlds.iter().find(|t| t.tld == tld).map(|t| t.profile.nameservers_min_delegated).unwrap_or(2)
        };
        let keep = |d: &Domain| {
            q.zone.as_ref().is_none_or(|z| &d.zone == z)
                && q.status.is_none_or(|s| d.effective_statuses(min_ns(&d.tld)).contains(&s))
                && q.registrar.as_ref().is_none_or(|x| &d.registrar == x)
        };
        // Where the candidates come from: the narrowest index that holds every match, so that a
        // page reads about as many records as it shows. Undelegated domains are a range of the
        // nameserver-count index (below the largest minimum of any TLD; `keep` applies each
        // domain's own); without a prefix, a stored status or a registrar is a range of its own
        // index (in A-label order); otherwise the names with the prefix, in Unicode order.
        let source = if q.status == Some(Status::Inactive) {
            let most = self.policy().tlds.iter().map(|t| t.profile.nameservers_min_delegated).max().unwrap_or(2);
            Source::FewNameservers(u8::try_from(most).unwrap_or(u8::MAX))
        } else if let (true, Some(st)) = (prefix.is_empty(), q.status.filter(|s| *s != Status::Ok)) {
            Source::Status(st)
        } else if let (true, Some(reg)) = (prefix.is_empty(), q.registrar.as_deref()) {
            Source::Registrar(reg)
        } else {
            Source::Prefix
        };
        let mut out = Vec::new();
        // The page token is the previous page's last Unicode name; the A-label indexes go on
        // from its A-label.
        let mut after = match source {
            Source::Status(_) | Source::Registrar(_) => {
                q.after.as_deref().map(|u| self.name_key(u).unwrap_or_default())
            }
            _ => q.after.clone(),
        };
        let mut scanned = 0;
        while out.len() < limit && scanned < SEARCH_SCAN_MAX {
            let page = limit.max(50);
            let page: Vec<(String, String)> = match source {
                Source::FewNameservers(below) => {
                    r.names_with_few_nameservers(below, &prefix, after.as_deref(), page)?
                }
                Source::Status(st) => r
                    .domain_names_with_status(st, after.as_deref(), page)?
                    .into_iter()
                    .map(|a| (a.clone(), a))
                    .collect(),
                Source::Registrar(reg) => {
                    r.domain_names_of(reg, after.as_deref(), page)?.into_iter().map(|a| (a.clone(), a)).collect()
                }
                Source::Prefix => r.names_with_prefix(&prefix, after.as_deref(), 500)?,
            };
            if page.is_empty() {
                break;
            }
            scanned += page.len();
            after = page.last().map(|(u, _)| u.clone());
            for (_, ascii) in page {
                if let Some(d) = r.domain(&ascii)?
                    && keep(&d)
                {
                    out.push(d);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Records a disclosure request.
    pub async fn disclosure_create(
        &self,
        domain: &str,
        requester: &str,
        legal_basis: &str,
        case_reference: &str,
        actor: Actor,
    ) -> Result<DisclosureRequest, RegistryError> {
        let fields = [("requester", requester), ("legal basis", legal_basis), ("case reference", case_reference)];
        for (name, v) in fields {
            if v.trim().is_empty() || v.len() > 500 || v.chars().any(|c| c.is_control() && c != '\n') {
                return err(Code::InvalidRequest, format!("{name}: 1 to 500 characters"));
            }
        }
        let key = self.name_key(domain)?;
        let (requester, legal_basis, case_reference, now) = (
            requester.trim().to_string(),
            legal_basis.trim().to_string(),
            case_reference.trim().to_string(),
            self.now(),
        );
        self.submit(move |tx| {
            if tx.domain(&key)?.is_none() {
                return err(Code::NotFound, format!("{key} is not registered"));
            }
            let id = tx.next_seq("disclosure")?;
            let d = DisclosureRequest {
                id,
                domain: key.clone(),
                requester: requester.clone(),
                legal_basis: legal_basis.clone(),
                case_reference: case_reference.clone(),
                received: now,
                recorded_by: actor.to_string(),
                state: DisclosureState::Pending,
                decided_by: None,
                decided: None,
                decision_note: String::new(),
                disclosed: None,
            };
            tx.put_disclosure(&d)?;
            Registry::audit_in(
                tx,
                &actor,
                "recorded disclosure request",
                &format!("#{id} {key} ({case_reference})"),
                now,
            )?;
            Ok(d)
        })
        .await
    }

    /// Decides a disclosure request; granted, the full record of that one domain is produced
    /// and kept with the request (what was disclosed, to whom, when).
    pub async fn disclosure_decide(
        &self,
        id: u64,
        grant: bool,
        note: &str,
        actor: Actor,
    ) -> Result<DisclosureRequest, RegistryError> {
        let (note, now, this) = (note.trim().chars().take(1_000).collect::<String>(), self.now(), self.clone());
        self.submit(move |tx| {
            let Some(mut d) = tx.disclosure(id)? else {
                return err(Code::NotFound, format!("no disclosure request {id}"));
            };
            if d.state != DisclosureState::Pending {
                return err(Code::Conflict, format!("request {id} was already decided"));
            }
            d.state = if grant { DisclosureState::Granted } else { DisclosureState::Refused };
            d.decided_by = Some(actor.to_string());
            d.decided = Some(now);
            d.decision_note = note.clone();
            if grant {
                d.disclosed = Some(this.full_record_in(tx, &d.domain)?);
            }
            tx.put_disclosure(&d)?;
            let what = if grant { "granted disclosure request" } else { "refused disclosure request" };
            Registry::audit_in(tx, &actor, what, &format!("#{id} {}", d.domain), now)?;
            Ok(d)
        })
        .await
    }

    pub fn disclosures(&self, limit: usize) -> Result<Vec<DisclosureRequest>, RegistryError> {
        Ok(self.read()?.disclosures(limit)?)
    }

    pub fn disclosure(&self, id: u64) -> Result<Option<DisclosureRequest>, RegistryError> {
        Ok(self.read()?.disclosure(id)?)
    }

    /// Every fact about one domain and its contacts, as text (what a granted request discloses).
    fn full_record_in(&self, tx: &crate::store::WriteTx, name: &str) -> Result<String, RegistryError> {
        let Some(d) = tx.domain(name)? else {
            return err(Code::NotFound, format!("{name} is not registered"));
        };
        let mut out = format!(
            "Domain: {} ({})\nROID: {}\nRegistrar: {}\nCreated: {}\nExpires: {}\nStatus: {}\n",
            d.unicode_name,
            d.name,
            d.roid,
            d.registrar,
            d.created.to_rfc3339(),
            d.expires.to_rfc3339(),
            d.effective_statuses(self.policy().tld(&d.tld).map(|t| t.profile.nameservers_min_delegated).unwrap_or(2))
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let roles = [
            ("Registrant", Some(d.registrant.clone())),
            ("Admin", Some(d.admin.clone())),
            ("Tech", d.tech.clone()),
            ("Billing", d.billing.clone()),
        ];
        for (role, handle) in roles {
            let Some(h) = handle else { continue };
            if let Some(c) = tx.contact(&h)? {
                out.push_str(&format!(
                    "\n{role} ({h}, {:?})\n  Name: {}\n  Organization: {}\n  Address: {}, {} {}, {}\n  Email: {}\n  Phone: {}\n  Fiscal id: {}\n",
                    c.kind,
                    c.name,
                    c.organization.unwrap_or_default(),
                    c.street.join(", "),
                    c.postal_code,
                    c.city,
                    c.country_code,
                    c.email,
                    c.phone.unwrap_or_default(),
                    c.fiscal_id.unwrap_or_default()
                ));
            }
        }
        Ok(out)
    }

    /// Enables or disables a user (admin only, never oneself: the front end checks).
    pub async fn user_set_enabled(&self, name: &str, enabled: bool, actor: Actor) -> Result<User, RegistryError> {
        let (name, now) = (name.to_string(), self.now());
        self.submit(move |tx| {
            let Some(mut u) = tx.user(&name)? else {
                return err(Code::NotFound, format!("no user {name}"));
            };
            u.enabled = enabled;
            tx.put_user(&u)?;
            record(
                tx,
                &format!("user:{name}"),
                if enabled { "user.enable" } else { "user.disable" },
                now,
                &actor,
                None,
                None,
                None,
                0,
            )?;
            Registry::audit_in(tx, &actor, if enabled { "enabled user" } else { "disabled user" }, &name, now)?;
            Ok(u)
        })
        .await
    }

    /// Changes a registrar's name, contact email or whether it may use the API.
    pub async fn registrar_edit(
        &self,
        id: &str,
        name: &str,
        email: &str,
        enabled: bool,
        actor: Actor,
    ) -> Result<(), RegistryError> {
        let name = name.trim().to_string();
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return err(Code::InvalidRequest, "registrar name: 1 to 255 printable characters");
        }
        let (id, email, now) = (id.to_string(), email.trim().to_string(), self.now());
        self.submit(move |tx| {
            let Some(mut r) = tx.registrar(&id)? else {
                return err(Code::NotFound, format!("no registrar {id}"));
            };
            r.name = name.clone();
            r.email = email.clone();
            r.enabled = enabled;
            tx.put_registrar(&r)?;
            record(tx, &format!("registrar:{id}"), "registrar.edit", now, &actor, None, None, None, 0)?;
            Registry::audit_in(tx, &actor, "edited registrar", &id, now)
        })
        .await
    }
}

/// A random 256-bit token, base64url (session cookies).
pub(crate) fn token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Whether a role may change things.
pub fn may_change(role: Role) -> bool {
    role == Role::Admin
}
