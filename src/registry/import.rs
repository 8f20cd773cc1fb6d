//! Bulk import from another registry: JSON lines of contacts, then domains.
//!
//! Each line is one command through the writer, with the same checks as the API except the
//! rules for new names (an existing registration in a closed zone stays valid). Lines are
//! submitted in file order with many in flight, so the writer commits them in large groups; a
//! refused line is reported with its number and reason and changes nothing.

use std::collections::VecDeque;
use std::io::BufRead;

use serde_json::{Map, Value};

use super::Registry;
use super::contacts::{ContactInput, create_in};
use super::domains::DomainCreate;
use super::error::{Code, RegistryError, err};
use crate::limits::{AUTH_CODE_BYTES_MAX, IMPORT_IN_FLIGHT_MAX, IMPORT_LINE_BYTES_MAX};
use crate::model::{Actor, Status, Timestamp};

/// One parsed line.
#[derive(Debug, Clone)]
pub enum ImportLine {
    Contact {
        registrar: String,
        contact: ContactInput,
    },
    Domain {
        registrar: String,
        domain: Box<DomainCreate>,
        created: Timestamp,
        expires: Timestamp,
        statuses: Vec<Status>,
        auth_code: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub contacts: u64,
    pub domains: u64,
    /// (line number, why)
    pub refused: Vec<(u64, String)>,
}

fn take_str(obj: &mut Map<String, Value>, key: &str) -> Result<String, RegistryError> {
    match obj.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => err(Code::InvalidRequest, format!("`{key}` must be a string")),
        None => err(Code::InvalidRequest, format!("`{key}` is required")),
    }
}

impl ImportLine {
    pub fn parse(line: &str) -> Result<ImportLine, RegistryError> {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| RegistryError::new(Code::InvalidRequest, format!("not JSON: {e}")))?;
        let Value::Object(mut obj) = v else {
            return err(Code::InvalidRequest, "a line must be a JSON object");
        };
        let kind = take_str(&mut obj, "type")?;
        let registrar = take_str(&mut obj, "registrar")?;
        match kind.as_str() {
            "contact" => {
                let contact: ContactInput = serde_json::from_value(Value::Object(obj))
                    .map_err(|e| RegistryError::new(Code::InvalidRequest, e.to_string()))?;
                if contact.handle.is_none() {
                    return err(Code::InvalidRequest, "`handle` is required");
                }
                Ok(ImportLine::Contact { registrar, contact })
            }
            "domain" => {
                let time = |obj: &mut Map<String, Value>, key: &str| -> Result<Timestamp, RegistryError> {
                    let s = take_str(obj, key)?;
                    Timestamp::parse_rfc3339(&s).ok_or_else(|| {
                        RegistryError::new(Code::InvalidRequest, format!("`{key}`: `{s}` is not an RFC 3339 time"))
                    })
                };
                let created = time(&mut obj, "created")?;
                let expires = time(&mut obj, "expires")?;
                if expires <= created {
                    return err(Code::InvalidRequest, "`expires` must be after `created`");
                }
                let statuses = match obj.remove("status") {
                    None => Vec::new(),
                    Some(Value::Array(list)) => {
                        let mut out = Vec::new();
                        for s in list {
                            let text = s.as_str().unwrap_or_default().to_string();
                            match Status::parse(&text) {
                                Some(Status::Ok | Status::Inactive) => {}
                                Some(st) => out.push(st),
                                None => {
                                    return err(Code::InvalidRequest, format!("`{text}` is not an EPP status"));
                                }
                            }
                        }
                        out
                    }
                    Some(_) => return err(Code::InvalidRequest, "`status` must be an array"),
                };
                let auth_code = match obj.remove("auth_code") {
                    None => super::random_code(crate::limits::AUTH_CODE_CHARS),
                    Some(Value::String(s)) if !s.is_empty() && s.len() <= AUTH_CODE_BYTES_MAX => {
                        if let Some((c, why)) = super::validate::first_forbidden(&s) {
                            return err(
                                Code::InvalidRequest,
                                super::validate::forbidden_message("`auth_code`", c, why),
                            );
                        }
                        s
                    }
                    Some(_) => {
                        return err(Code::InvalidRequest, format!("`auth_code`: 1 to {AUTH_CODE_BYTES_MAX} bytes"));
                    }
                };
                let domain: DomainCreate = serde_json::from_value(Value::Object(obj))
                    .map_err(|e| RegistryError::new(Code::InvalidRequest, e.to_string()))?;
                Ok(ImportLine::Domain { registrar, domain: Box::new(domain), created, expires, statuses, auth_code })
            }
            other => err(Code::InvalidRequest, format!("`type` is `{other}`: contact or domain")),
        }
    }
}

type Pending = tokio::sync::oneshot::Receiver<Result<bool, RegistryError>>;

impl Registry {
    /// Enqueues one import line on the writer; the answer says whether it made a domain.
    async fn import_enqueue(&self, line: ImportLine, now: Timestamp) -> Result<Pending, RegistryError> {
        let actor = Actor::System("import".into());
        match line {
            ImportLine::Contact { registrar, contact } => {
                let mut built = Registry::contact_build(&contact, &registrar, now)?;
                built.handle = contact.handle.clone().unwrap_or_default();
                let handle = contact.handle.clone();
                self.enqueue(move |tx| {
                    if tx.registrar(&registrar)?.is_none() {
                        return err(Code::InvalidRequest, format!("no registrar {registrar}"));
                    }
                    create_in(tx, &registrar, &built, handle.as_deref(), &actor).map(|_| false)
                })
                .await
            }
            ImportLine::Domain { registrar, domain, created, expires, statuses, auth_code } => {
                let p = self.prepare_create(*domain, false)?;
                let this = self.clone();
                self.enqueue(move |tx| {
                    this.import_domain_in(tx, &registrar, &p, created, expires, &statuses, &auth_code, now)
                        .map(|_| true)
                })
                .await
            }
        }
    }

    /// Imports a JSON-lines file. Reading stops at the first line over the length bound.
    pub async fn import(&self, input: impl BufRead) -> Result<ImportReport, RegistryError> {
        let now = self.now();
        let mut report = ImportReport::default();
        let mut in_flight: VecDeque<(u64, Pending)> = VecDeque::new();
        let settle = |report: &mut ImportReport, n: u64, r: Result<bool, RegistryError>| match r {
            Ok(true) => report.domains += 1,
            Ok(false) => report.contacts += 1,
            Err(e) if e.is_internal() => report.refused.push((n, format!("internal error: {}", e.detail))),
            Err(e) => report.refused.push((n, format!("{}: {}", e.code.as_str(), e.detail))),
        };
        for (i, line) in input.split(b'\n').enumerate() {
            let n = i as u64 + 1;
            let line = line.map_err(|e| RegistryError::new(Code::InvalidRequest, format!("line {n}: {e}")))?;
            if line.len() > IMPORT_LINE_BYTES_MAX {
                report.refused.push((n, format!("longer than {IMPORT_LINE_BYTES_MAX} bytes")));
                continue;
            }
            let Ok(text) = std::str::from_utf8(&line) else {
                report.refused.push((n, "not UTF-8".into()));
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            let parsed = ImportLine::parse(text);
            let pending = match parsed {
                Ok(l) => self.import_enqueue(l, now).await,
                Err(e) => Err(e),
            };
            match pending {
                Ok(p) => in_flight.push_back((n, p)),
                Err(e) => settle(&mut report, n, Err(e)),
            }
            while in_flight.len() >= IMPORT_IN_FLIGHT_MAX {
                if let Some((n, p)) = in_flight.pop_front() {
                    let r = p.await.unwrap_or_else(|_| err(Code::Unavailable, "writer stopped"));
                    settle(&mut report, n, r);
                }
            }
        }
        while let Some((n, p)) = in_flight.pop_front() {
            let r = p.await.unwrap_or_else(|_| err(Code::Unavailable, "writer stopped"));
            settle(&mut report, n, r);
        }
        Ok(report)
    }
}
