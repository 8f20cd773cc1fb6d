//! The .pt registry's EPP extension (`ptdomain-1.0`, `ptcontact-1.0`) in its three generations
//! (../shared/EPP.md): every form accepted on the way in and mapped onto nicbox's own fields
//! (fiscal id, legitimacy, registration basis, auto-renew, owner visibility, transfer key, ROID);
//! on the way out the union of the three, which each generation's parser reads.
//!
//! - 2008: `legitimacy`@type, `registration_basis`@type, `addPeriod`, `nextPossibleRegistration`,
//!   `autoRenew`, a required `roid`; contacts with `type`, `identification`@type, `mobile`.
//! - 2014-2018: the same with an empty `roid`, `ownerVisible`, `transferKey`; `identification`.
//! - 2019: `legitimacy` and `registration_basis` as text, `autoRenew`, `Arbitration`, `ownerConf`;
//!   contacts with `vat`.
//!
//! `roid`, `addPeriod`, `nextPossibleRegistration`, `Arbitration` and `rl` carry nothing nicbox
//! keeps: they are accepted and ignored (a domain is named by its name).

// A failed command is an answer like any other, built once per command: its size is no cost.
#![allow(clippy::result_large_err)]

use roxmltree::Node;

use super::exec::Answer;
use super::xml::{PTCONTACT, PTDOMAIN, Writer, boolean, child, text_of};
use crate::model::{Contact, ContactKind, Domain};
use crate::registry::{ContactInput, ContactPatch, DomainCreate, DomainPatch, Registry};

/// Whether the TLD's profile speaks the extension.
pub fn enabled(registry: &Registry, tld: &str) -> bool {
    registry.policy().tld(tld).is_some_and(|t| t.profile.epp_pt_extension)
}

/// A code given as `<x type="1"/>` (2008-2018) or as `<x>1</x>` (2019).
fn code(n: Node<'_, '_>, name: &str) -> Option<String> {
    let c = child(n, PTDOMAIN, name)?;
    let v = c.attribute("type").map(str::trim).filter(|t| !t.is_empty()).or_else(|| c.text().map(str::trim));
    v.filter(|v| !v.is_empty()).map(str::to_string)
}

fn flag(n: Node<'_, '_>, ns: &str, name: &str) -> Result<Option<bool>, Answer> {
    match text_of(n, ns, name) {
        None => Ok(None),
        Some(t) => boolean(t)
            .map(Some)
            .ok_or_else(|| Answer::fail(2005, "Invalid boolean", format!("{name} is true, false, 1 or 0"))),
    }
}

fn refuse_renounce(n: Node<'_, '_>) -> Result<(), Answer> {
    if flag(n, PTDOMAIN, "renounce")? == Some(true) {
        return Err(Answer::fail(
            2102,
            "Renounce not offered",
            "giving up sponsorship is not offered: delete the domain or transfer it",
        ));
    }
    Ok(())
}

pub fn apply_domain_create(req: &mut DomainCreate, n: Node<'_, '_>) -> Result<(), Answer> {
    req.legitimacy = code(n, "legitimacy");
    req.registration_basis = code(n, "registration_basis");
    if let Some(a) = flag(n, PTDOMAIN, "autoRenew")? {
        req.auto_renew = a;
    }
    let visible = flag(n, PTDOMAIN, "ownerVisible")?.or(flag(n, PTDOMAIN, "ownerConf")?);
    if visible.is_some() {
        req.owner_visible = visible;
    }
    Ok(())
}

pub fn apply_domain_update(patch: &mut DomainPatch, n: Node<'_, '_>) -> Result<(), Answer> {
    refuse_renounce(n)?;
    if let Some(a) = flag(n, PTDOMAIN, "autoRenew")? {
        patch.auto_renew = Some(a);
    }
    if let Some(v) = flag(n, PTDOMAIN, "ownerVisible")?.or(flag(n, PTDOMAIN, "ownerConf")?) {
        patch.owner_visible = Some(v);
    }
    Ok(())
}

/// `autoRenew` / `notRenew` on a renew (2008-2018) set the auto-renew flag after it.
pub async fn apply_renew(registry: &Registry, id: &str, name: &str, n: Node<'_, '_>) -> Result<(), Answer> {
    let auto = match (flag(n, PTDOMAIN, "autoRenew")?, flag(n, PTDOMAIN, "notRenew")?) {
        (Some(a), _) => Some(a),
        (None, Some(not)) => Some(!not),
        (None, None) => None,
    };
    if let Some(a) = auto {
        let patch = DomainPatch { auto_renew: Some(a), ..Default::default() };
        registry.domain_update(id, name, patch).await.map_err(|e| Answer::from_error(&e))?;
    }
    Ok(())
}

/// The fiscal id: `vat` (2019) or `identification` (2008-2018).
fn fiscal(n: Node<'_, '_>) -> Option<String> {
    text_of(n, PTCONTACT, "vat").or_else(|| text_of(n, PTCONTACT, "identification")).map(str::to_string)
}

pub fn apply_contact_create(input: &mut ContactInput, n: Node<'_, '_>) -> Result<(), Answer> {
    input.fiscal_id = fiscal(n);
    match text_of(n, PTCONTACT, "type") {
        Some("individual") => input.kind = ContactKind::Person,
        Some("organization") => input.kind = ContactKind::Organization,
        Some(other) => {
            return Err(Answer::fail(2005, "type: individual|organization", format!("contact type `{other}`")));
        }
        None => {}
    }
    if input.phone.is_none() {
        input.phone = text_of(n, PTCONTACT, "mobile").filter(|m| !m.is_empty()).map(str::to_string);
    }
    Ok(())
}

pub fn apply_contact_update(patch: &mut ContactPatch, n: Node<'_, '_>) -> Result<(), Answer> {
    if let Some(f) = fiscal(n) {
        patch.fiscal_id = Some(f);
    }
    if patch.phone.is_none() {
        patch.phone = text_of(n, PTCONTACT, "mobile").filter(|m| !m.is_empty()).map(str::to_string);
    }
    Ok(())
}

/// `ptdomain:creData` with the ROID (2008-2018 clients read it from there).
pub fn domain_cre_data(d: &Domain) -> String {
    let mut w = Writer::fragment();
    w.open("ptdomain:creData", &[("xmlns:ptdomain", PTDOMAIN)]).text("ptdomain:roid", &d.roid);
    w.close("ptdomain:creData");
    w.finish()
}

/// `ptdomain:infData`: the union of the generations' fields.
pub fn domain_info_data(w: &mut Writer, d: &Domain) {
    let b = |v: bool| if v { "true" } else { "false" };
    w.open("ptdomain:infData", &[("xmlns:ptdomain", PTDOMAIN)]).text("ptdomain:roid", &d.roid);
    if let Some(l) = &d.legitimacy {
        w.leaf("ptdomain:legitimacy", &[("type", l)], l);
    }
    if let Some(r) = &d.registration_basis {
        w.leaf("ptdomain:registration_basis", &[("type", r)], r);
    }
    w.text("ptdomain:autoRenew", b(d.auto_renew)).text("ptdomain:notRenew", b(!d.auto_renew));
    w.text("ptdomain:ownerVisible", b(d.owner_visible)).text("ptdomain:ownerConf", b(d.owner_visible));
    w.close("ptdomain:infData");
}

/// `ptcontact:infData`: the fiscal id as `vat` and as `identification`, and the kind.
pub fn contact_info_data(c: &Contact) -> String {
    let mut w = Writer::fragment();
    w.open("ptcontact:infData", &[("xmlns:ptcontact", PTCONTACT)]);
    if let Some(f) = &c.fiscal_id {
        w.text("ptcontact:identification", f).text("ptcontact:vat", f);
    }
    let kind = if c.kind == ContactKind::Organization { "organization" } else { "individual" };
    w.text("ptcontact:type", kind).close("ptcontact:infData");
    w.finish()
}
