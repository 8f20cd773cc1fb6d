//! The registry's side of directory abuse protection: suspended origins and the query log,
//! stored like everything else (through the writer), so suspensions survive a restart.

use super::error::{Code, RegistryError, err};
use super::{Registry, record};
use crate::model::{Actor, QueryLogBlock, QueryLogEntry, QueryOutcome, Suspension, Timestamp};

/// Query-log entries purged per lifecycle run.
const QUERY_LOG_PURGE_MAX: usize = 200_000;

impl Registry {
    /// Every stored suspension record (current and remembered).
    pub fn suspensions(&self) -> Result<Vec<Suspension>, RegistryError> {
        Ok(self.read()?.suspensions()?)
    }

    pub async fn suspension_put(&self, s: Suspension) -> Result<(), RegistryError> {
        self.submit(move |tx| Ok(tx.put_suspension(&s)?)).await
    }

    /// Lifts a suspension now (the record stays, so a recurrence is still suspended longer).
    pub async fn suspension_lift(&self, origin: &str, actor: Actor) -> Result<Suspension, RegistryError> {
        let (origin, now) = (origin.to_string(), self.now());
        self.submit(move |tx| {
            let Some(mut s) = tx.suspensions()?.into_iter().find(|s| s.origin == origin) else {
                return err(Code::NotFound, format!("{origin} is not suspended"));
            };
            if s.until <= now {
                return err(Code::NotFound, format!("{origin} is not suspended"));
            }
            s.until = now;
            s.lifted_by = Some(actor.to_string());
            tx.put_suspension(&s)?;
            record(tx, &format!("suspension:{origin}"), "whois.suspension_lifted", now, &actor, None, None, None, 0)?;
            Ok(s)
        })
        .await
    }

    /// Records that a contact-form message was relayed (or failed): time, domain, outcome; never
    /// its content.
    pub async fn contact_relayed(&self, domain: &str, ok: bool, actor: Actor) -> Result<(), RegistryError> {
        let (domain, now) = (domain.to_string(), self.now());
        self.submit(move |tx| {
            let op = if ok { "contact_form.relayed" } else { "contact_form.failed" };
            record(tx, &format!("contact_form:{domain}"), op, now, &actor, None, None, None, 0)?;
            tx.counter_add(&format!("contact_form:{}", if ok { "relayed" } else { "failed" }), 1)?;
            Ok(())
        })
        .await
    }

    /// The contact-form record of a domain: (time, relayed?) of each message.
    pub fn contact_relays(&self, domain: &str) -> Result<Vec<(Timestamp, bool)>, RegistryError> {
        Ok(self
            .read()?
            .history(&format!("contact_form:{domain}"), crate::limits::HISTORY_ENTRIES_MAX)?
            .into_iter()
            .map(|e| (e.at, e.operation == "contact_form.relayed"))
            .collect())
    }

    /// Stores a block of query-log entries and counts them per outcome (one transaction).
    pub async fn log_queries(&self, block: QueryLogBlock) -> Result<(), RegistryError> {
        self.submit(move |tx| {
            tx.append_query_log(&block)?;
            // One pass over the rows, counted per (protocol index, outcome).
            const OUTCOMES: [QueryOutcome; 4] =
                [QueryOutcome::Found, QueryOutcome::NoMatch, QueryOutcome::Invalid, QueryOutcome::Limited];
            let mut counts = vec![[0i64; OUTCOMES.len()]; block.protocols.len()];
            for r in &block.rows {
                if let (Some(c), Some(o)) =
                    (counts.get_mut(r.protocol as usize), OUTCOMES.iter().position(|o| *o == r.outcome))
                {
                    c[o] += 1;
                }
            }
            for protocol in ["whois", "rdap"] {
                let per_outcome = block.protocols.iter().position(|p| p == protocol).map(|i| counts[i]);
                for (o, outcome) in OUTCOMES.iter().enumerate() {
                    let n = per_outcome.map_or(0, |c| c[o]);
                    tx.counter_add(&format!("queries.{protocol}:{}", outcome.as_str()), n)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Query-log entries from `from`, of one origin or all, at most `limit`, the oldest or the
    /// newest first.
    pub fn query_log(
        &self,
        origin: Option<&str>,
        from: Timestamp,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<QueryLogEntry>, RegistryError> {
        Ok(self.read()?.query_log(origin, from, limit, newest_first)?)
    }

    /// Housekeeping of the directory's records: the query log past its retention, suspension
    /// records past their memory. Part of the lifecycle job.
    pub(super) async fn directory_housekeeping(&self) -> Result<(usize, usize), RegistryError> {
        let w = &self.settings().whois;
        let now = self.now();
        let log_before = now.add_days(-i64::from(w.log_retention_days));
        let remember = i64::from(w.remember_days);
        let stale: Vec<String> =
            self.suspensions()?.into_iter().filter(|s| s.until.add_days(remember) < now).map(|s| s.origin).collect();
        let has_old_log = self.read()?.query_log_has_before(log_before)?;
        if stale.is_empty() && !has_old_log {
            return Ok((0, 0));
        }
        self.submit(move |tx| {
            let purged = tx.purge_query_log(log_before, QUERY_LOG_PURGE_MAX)?;
            for o in &stale {
                tx.remove_suspension(o)?;
            }
            Ok((purged, stale.len()))
        })
        .await
    }
}
