//! JSON shapes of the registrar API: model values as the contract shows them (RFC 3339 times,
//! status names, addresses as strings).

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{Actor, Contact, ContactKind, Domain, HistoryEntry, Snapshot};
use crate::policy::Policy;

#[derive(Serialize)]
pub struct ContactView {
    pub handle: String,
    pub kind: ContactKind,
    pub name: String,
    pub organization: Option<String>,
    pub street: Vec<String>,
    pub city: String,
    pub postal_code: String,
    pub country_code: String,
    pub email: String,
    pub phone: Option<String>,
    pub fiscal_id: Option<String>,
    pub created: String,
    pub updated: String,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        ContactView {
            handle: c.handle.clone(),
            kind: c.kind,
            name: c.name.clone(),
            organization: c.organization.clone(),
            street: c.street.clone(),
            city: c.city.clone(),
            postal_code: c.postal_code.clone(),
            country_code: c.country_code.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            fiscal_id: c.fiscal_id.clone(),
            created: c.created.to_rfc3339(),
            updated: c.updated.to_rfc3339(),
        }
    }
}

#[derive(Serialize)]
pub struct DomainView {
    pub name: String,
    pub unicode_name: String,
    pub roid: String,
    pub zone: String,
    pub registrar: String,
    pub registrant: String,
    pub admin: String,
    pub tech: Option<String>,
    pub billing: Option<String>,
    pub nameservers: Vec<Value>,
    pub ds: Vec<Value>,
    pub status: Vec<String>,
    pub created: String,
    pub expires: String,
    pub updated: String,
    pub auto_renew: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_code: Option<String>,
    pub registration_basis: Option<String>,
    pub legitimacy: Option<String>,
    pub owner_visible: bool,
    /// The nameserver check (only in answers about one domain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nameserver_check: Option<Value>,
}

/// The nameserver check of a domain as the registrar API and the admin API show it.
pub fn ns_check_json(
    d: &Domain,
    policy: &Policy,
    check: Option<&crate::model::NsCheck>,
    due: Option<crate::model::Timestamp>,
) -> Value {
    let mode = policy.tld_of(&d.name).map(|t| t.profile.delegation_check.as_str()).unwrap_or("off");
    json!({
        "mode": mode,
        "checked": check.map(|c| c.at.to_rfc3339()),
        "passed": check.is_some_and(|c| c.passed),
        "current": check.is_some_and(|c| c.nameservers == d.nameservers),
        "failing_since": check.and_then(|c| c.failing_since).map(|t| t.to_rfc3339()),
        "next_check": due.map(|t| t.to_rfc3339()),
        "in_zone": crate::registry::zone::delegation_of(policy, d, check).is_some(),
        "servers": check.map(|c| c.servers.iter().map(|s| json!({
            "host": s.host, "address": s.address.map(|a| a.to_string()),
            "transport": s.transport.map(|t| t.as_str()), "ok": s.ok, "reason": s.reason,
        })).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

impl DomainView {
    /// `sponsor`: whether the reader sponsors the domain (only then is the auth code shown).
    pub fn new(d: &Domain, policy: &Policy, sponsor: bool) -> DomainView {
        let min_ns = policy.tld_of(&d.name).map(|t| t.profile.nameservers_min_delegated).unwrap_or(2);
        DomainView {
            name: d.name.clone(),
            unicode_name: d.unicode_name.clone(),
            roid: d.roid.clone(),
            zone: d.zone.clone(),
            registrar: d.registrar.clone(),
            registrant: d.registrant.clone(),
            admin: d.admin.clone(),
            tech: d.tech.clone(),
            billing: d.billing.clone(),
            nameservers: d
                .nameservers
                .iter()
                .map(|n| json!({"name": n.name, "addresses": n.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>()}))
                .collect(),
            ds: d
                .ds
                .iter()
                .map(|x| json!({"key_tag": x.key_tag, "algorithm": x.algorithm, "digest_type": x.digest_type, "digest": x.digest}))
                .collect(),
            status: d.effective_statuses(min_ns).iter().map(|s| s.as_str().to_string()).collect(),
            created: d.created.to_rfc3339(),
            expires: d.expires.to_rfc3339(),
            updated: d.updated.to_rfc3339(),
            auto_renew: d.auto_renew,
            auth_code: sponsor.then(|| d.auth_code.clone()),
            registration_basis: d.registration_basis.clone(),
            legitimacy: d.legitimacy.clone(),
            owner_visible: d.owner_visible,
            nameserver_check: None,
        }
    }
}

#[derive(Serialize)]
pub struct HistoryView {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub operation: String,
    pub amount_cents: i64,
    /// The fields that changed, with their values before and after.
    pub changes: Value,
}

fn snapshot_json(s: &Snapshot, policy: &Policy) -> Value {
    match s {
        Snapshot::Domain(d) => {
            let mut v = serde_json::to_value(DomainView::new(d, policy, false)).unwrap_or(Value::Null);
            // Auth codes never appear in history.
            if let Value::Object(m) = &mut v {
                m.remove("auth_code");
            }
            v
        }
        Snapshot::Contact(c) => serde_json::to_value(ContactView::from(c.as_ref())).unwrap_or(Value::Null),
        Snapshot::Registrar { id, name, balance_cents, enabled } => {
            json!({"id": id, "name": name, "balance_cents": balance_cents, "enabled": enabled})
        }
    }
}

/// The fields that differ between two JSON objects: `{"field": {"before": .., "after": ..}}`.
pub fn diff(before: &Value, after: &Value) -> Value {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = serde_json::Map::new();
    for key in b.keys().chain(a.keys()) {
        if out.contains_key(key) {
            continue;
        }
        let (x, y) = (b.get(key).unwrap_or(&Value::Null), a.get(key).unwrap_or(&Value::Null));
        if x != y {
            out.insert(key.clone(), json!({"before": x, "after": y}));
        }
    }
    Value::Object(out)
}

impl HistoryView {
    pub fn new(e: &HistoryEntry, policy: &Policy) -> HistoryView {
        let before = e.before.as_ref().map(|s| snapshot_json(s, policy)).unwrap_or(Value::Null);
        let after = e.after.as_ref().map(|s| snapshot_json(s, policy)).unwrap_or(Value::Null);
        HistoryView {
            seq: e.seq,
            at: e.at.to_rfc3339(),
            actor: match &e.actor {
                Actor::Registrar(id) => format!("registrar:{id}"),
                Actor::User(_) => "registry".to_string(),
                Actor::System(what) => format!("registry:{what}"),
            },
            operation: e.operation.clone(),
            amount_cents: e.amount_cents,
            changes: diff(&before, &after),
        }
    }
}
