//! The public face of the registry: the availability page (`/`), its JSON (`/api/public/...`),
//! and the anonymised contact form (`/contact/{domain}`). Portuguese and English, usable on a
//! phone, no external assets (templates and static files are compiled into the binary).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::AppState;
use super::extract::query_values;
use super::rdap::PeerIp;
use super::routes::{Routes, get};
use crate::model::Actor;
use crate::registry::CheckResult;

pub fn router() -> Routes {
    Routes::new()
        .route("/", get(page))
        .route("/static/{file}", get(static_file))
        .route("/api/public/availability", get(availability))
        .route("/api/public/stats", get(stats))
        .route("/contact/{domain}", get(contact_form).post(contact_send))
}

/// Every text of the public pages, in one language.
pub struct Texts {
    pub lang: &'static str,
    pub language: &'static str,
    pub check_title: &'static str,
    pub placeholder: &'static str,
    pub check_button: &'static str,
    pub count_title: &'static str,
    pub privacy: &'static str,
    pub footer: &'static str,
    pub free: &'static str,
    pub registered: &'static str,
    pub reserved: &'static str,
    pub invalid: &'static str,
    pub zone_closed: &'static str,
    pub other_tld: &'static str,
    pub contact_title: &'static str,
    pub contact_intro: &'static str,
    pub your_name: &'static str,
    pub your_email: &'static str,
    pub subject: &'static str,
    pub message: &'static str,
    pub challenge: &'static str,
    pub send: &'static str,
    pub sent: &'static str,
    pub wrong_answer: &'static str,
    pub not_available: &'static str,
    pub no_relay: &'static str,
    pub too_many: &'static str,
    pub failed: &'static str,
    pub bad_input: &'static str,
}

pub const PT: Texts = Texts {
    lang: "pt",
    language: "Idioma",
    check_title: "Este domínio está livre?",
    placeholder: "exemplo.pt",
    check_button: "Verificar",
    count_title: "Domínios registados",
    privacy: "Os dados pessoais dos titulares não são divulgados. Para escrever ao titular de um domínio, use o formulário de contacto indicado no WHOIS e no RDAP.",
    footer: "Registo de domínios — disponibilidade, WHOIS (porta 43) e RDAP (/rdap).",
    free: "está livre para registo.",
    registered: "já está registado.",
    reserved: "está reservado e não pode ser registado",
    invalid: "não é um nome válido",
    zone_closed: "pertence a uma zona fechada a novos registos.",
    other_tld: "não pertence a um domínio de topo deste registo.",
    contact_title: "Contactar o titular de",
    contact_intro: "A mensagem é reencaminhada para o titular do domínio sem lhe mostrar o endereço. O registo não guarda o conteúdo.",
    your_name: "O seu nome",
    your_email: "O seu email (para a resposta)",
    subject: "Assunto",
    message: "Mensagem",
    challenge: "Para provar que não é um robô: quanto é",
    send: "Enviar",
    sent: "Mensagem enviada ao titular.",
    wrong_answer: "A resposta à pergunta não está certa (ou a página expirou). Tente de novo.",
    not_available: "O formulário de contacto não está disponível para este domínio.",
    no_relay: "Nesta instalação não é possível enviar mensagens: não está configurado nenhum servidor de correio. O formulário de contacto fica indicado no WHOIS e no RDAP.",
    too_many: "Demasiadas mensagens a partir do seu endereço. Tente mais tarde.",
    failed: "Não foi possível enviar a mensagem agora. Tente mais tarde.",
    bad_input: "Preencha todos os campos (mensagem até 5000 caracteres) com um email válido.",
};

pub const EN: Texts = Texts {
    lang: "en",
    language: "Language",
    check_title: "Is this domain free?",
    placeholder: "example.pt",
    check_button: "Check",
    count_title: "Registered domains",
    privacy: "Holders' personal data is not disclosed. To write to a domain's holder, use the contact form linked from WHOIS and RDAP.",
    footer: "Domain registry — availability, WHOIS (port 43) and RDAP (/rdap).",
    free: "is free to register.",
    registered: "is already registered.",
    reserved: "is reserved and cannot be registered",
    invalid: "is not a valid name",
    zone_closed: "is in a zone closed to new registrations.",
    other_tld: "is not under a top-level domain of this registry.",
    contact_title: "Write to the holder of",
    contact_intro: "Your message is forwarded to the domain's holder without showing you their address. The registry keeps no copy of it.",
    your_name: "Your name",
    your_email: "Your email (for the reply)",
    subject: "Subject",
    message: "Message",
    challenge: "To show you are not a robot: what is",
    send: "Send",
    sent: "Message sent to the holder.",
    wrong_answer: "The answer to the question is not right (or the page expired). Please try again.",
    not_available: "The contact form is not available for this domain.",
    no_relay: "Messages cannot be sent on this installation: no mail relay is configured. The contact form stays linked from WHOIS and RDAP.",
    too_many: "Too many messages from your address. Please try later.",
    failed: "The message could not be sent now. Please try later.",
    bad_input: "Fill in every field (a message of at most 5000 characters) with a valid email address.",
};

/// The language asked for: `?lang=`, else the browser's first preference, else Portuguese.
fn texts(query: Option<&str>, headers: &HeaderMap) -> &'static Texts {
    match query_values(query, "lang").first().map(String::as_str) {
        Some("en") => return &EN,
        Some("pt") => return &PT,
        _ => {}
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.trim_start().to_ascii_lowercase().starts_with("en") { &EN } else { &PT }
}

/// The sentence a person reads about one name's availability.
fn message(t: &Texts, r: &CheckResult) -> String {
    let shown = r.unicode_name.clone().unwrap_or_else(|| r.name.clone());
    let tail = match (r.available, r.reason.as_deref()) {
        (true, _) => t.free.to_string(),
        (false, Some("registered")) => t.registered.to_string(),
        (false, Some("reserved")) => {
            format!("{}{}.", t.reserved, r.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())
        }
        (false, Some("zone_closed")) => t.zone_closed.to_string(),
        (false, Some("other_tld")) => t.other_tld.to_string(),
        _ => format!("{}{}.", t.invalid, r.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()),
    };
    format!("{shown} {tail}")
}

type IpLimiter = governor::DefaultKeyedRateLimiter<IpAddr>;

/// Per-address limits of the public JSON API and of the contact form.
fn api_limiter() -> &'static IpLimiter {
    static L: OnceLock<IpLimiter> = OnceLock::new();
    L.get_or_init(|| {
        governor::RateLimiter::keyed(
            governor::Quota::per_minute(NonZeroU32::new(120).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN)),
        )
    })
}

fn contact_limiter() -> &'static IpLimiter {
    static L: OnceLock<IpLimiter> = OnceLock::new();
    L.get_or_init(|| {
        governor::RateLimiter::keyed(
            governor::Quota::per_hour(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN)),
        )
    })
}

fn too_many() -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"type": "about:blank", "title": "Too Many Requests", "status": 429, "code": "rate_limited", "detail": "too many requests from your address"})),
    )
        .into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    r
}

#[derive(Template)]
#[template(path = "public.html")]
struct PublicPage<'a> {
    t: &'a Texts,
    registry: &'a str,
    pt_href: String,
    en_href: String,
    name: String,
    message: String,
    available: bool,
    total: i64,
    zones: Vec<(String, i64)>,
}

fn lang_href(path: &str, lang: &str, name: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("lang", lang);
    if !name.is_empty() {
        q.append_pair("name", name);
    }
    format!("{path}?{}", q.finish())
}

fn html(r: Result<String, askama::Error>) -> Response {
    match r {
        Ok(body) => {
            let mut resp = Html(body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
                ),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

async fn page(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let t = texts(q.as_deref(), &headers);
    let name: String =
        query_values(q.as_deref(), "name").into_iter().next().unwrap_or_default().chars().take(255).collect();
    let (message, available) = if name.trim().is_empty() {
        (String::new(), false)
    } else {
        match s.registry.check(std::slice::from_ref(&name)) {
            Ok(r) => (message(t, &r[0]), r[0].available),
            Err(_) => (String::new(), false),
        }
    };
    let stats = s.registry.stats().unwrap_or(crate::registry::Stats { domains: 0, by_zone: Default::default() });
    let page = PublicPage {
        t,
        registry: &s.registry.settings().registry_name,
        pt_href: lang_href("/", "pt", &name),
        en_href: lang_href("/", "en", &name),
        name,
        message,
        available,
        total: stats.domains,
        zones: stats.by_zone.into_iter().collect(),
    };
    html(page.render())
}

async fn static_file(Path(file): Path<String>) -> Response {
    let (body, ct) = match file.as_str() {
        "site.css" => (include_str!("../../web/static/site.css"), "text/css; charset=utf-8"),
        "public.js" => (include_str!("../../web/static/public.js"), "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn availability(
    State(s): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if api_limiter().check_key(&ip).is_err() && !s.guard.allowed(ip) {
        return too_many();
    }
    let t = texts(q.as_deref(), &headers);
    let Some(name) = query_values(q.as_deref(), "name").into_iter().next() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"type": "about:blank", "title": "Bad Request", "status": 400, "code": "invalid_request", "detail": "give ?name="})),
        )
            .into_response();
    };
    match s.registry.check(std::slice::from_ref(&name)) {
        Ok(r) => {
            let r = &r[0];
            Json(json!({
                "name": r.name,
                "unicode_name": r.unicode_name,
                "available": r.available,
                "reason": r.reason,
                "detail": r.detail,
                "message": message(t, r),
            }))
            .into_response()
        }
        Err(e) => super::error::ApiError(e, None).into_response(),
    }
}

async fn stats(State(s): State<AppState>, PeerIp(ip): PeerIp) -> Response {
    if api_limiter().check_key(&ip).is_err() && !s.guard.allowed(ip) {
        return too_many();
    }
    match s.registry.stats() {
        Ok(st) => Json(json!({"domains": st.domains, "by_zone": st.by_zone})).into_response(),
        Err(e) => super::error::ApiError(e, None).into_response(),
    }
}

// ---- The anonymised contact form ----

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage<'a> {
    t: &'a Texts,
    registry: &'a str,
    pt_href: String,
    en_href: String,
    domain: String,
    domain_ascii: String,
    enabled: bool,
    sent: bool,
    notice: String,
    from_name: String,
    from_email: String,
    subject: String,
    message: String,
    challenge: String,
    token: String,
}

/// Secret of the challenge tokens: random per process (a restart only expires open forms).
fn secret() -> &'static [u8; 32] {
    static S: OnceLock<[u8; 32]> = OnceLock::new();
    S.get_or_init(|| {
        let mut b = [0u8; 32];
        // Without the OS's randomness the form would be forgeable; refuse to start it.
        getrandom::fill(&mut b).expect("the operating system's random source failed");
        b
    })
}

/// HMAC-SHA256 of `text` under this process's secret, hex (signed form tokens).
pub fn sign_text(text: &str) -> String {
    sign(text)
}

fn sign(text: &str) -> String {
    // HMAC accepts keys of any length: the 32-byte key cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret()).expect("HMAC takes any key length");
    mac.update(text.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A new arithmetic challenge: (question, token). The token carries the numbers and an expiry,
/// signed, so checking the answer needs no stored state.
fn challenge(now: i64) -> (String, String) {
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    let (a, b) = (1 + u32::from(r[0]) % 9, 1 + u32::from(r[1]) % 9);
    let body = format!("{}.{a}.{b}", now + 3_600);
    let sig = sign(&body);
    (format!("{a} + {b}?"), format!("{body}.{sig}"))
}

fn check_challenge(token: &str, answer: &str, now: i64) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    let [exp, a, b, sig] = parts.as_slice() else { return false };
    let body = format!("{exp}.{a}.{b}");
    let sig_ok = subtle::ConstantTimeEq::ct_eq(sign(&body).as_bytes(), sig.as_bytes()).into();
    let (Ok(exp), Ok(a), Ok(b), Ok(ans)) =
        (exp.parse::<i64>(), a.parse::<u32>(), b.parse::<u32>(), answer.trim().parse::<u32>())
    else {
        return false;
    };
    sig_ok && exp >= now && a + b == ans
}

#[derive(serde::Deserialize, Default)]
struct ContactForm {
    from_name: String,
    from_email: String,
    subject: String,
    message: String,
    answer: String,
    token: String,
}

/// The registered domain's names, if its holder can be written to.
fn target(s: &AppState, domain: &str) -> Option<(String, String, String)> {
    match crate::directory::lookup(&s.registry, domain) {
        Ok(crate::directory::Lookup::Found(r)) => {
            let email = s
                .registry
                .domain_any(&r.name)
                .ok()
                .flatten()
                .and_then(|d| s.registry.contact_any(&d.registrant).ok().flatten())
                .map(|c| c.email)?;
            Some((r.name.to_string(), r.unicode_name.to_string(), email))
        }
        _ => None,
    }
}

fn contact_page(s: &AppState, t: &'static Texts, domain: &str, f: ContactForm, notice: &str, sent: bool) -> Response {
    let found = target(s, domain);
    let registered = found.is_some();
    let enabled = registered && s.mailer.is_some();
    let (ascii, unicode) = found.map(|(a, u, _)| (a, u)).unwrap_or_else(|| (domain.to_string(), domain.to_string()));
    let (question, token) = challenge(crate::clock::Clock::wall_now().0);
    // A registered domain's form opens even without a relay, and says so plainly.
    let notice = match (registered, enabled) {
        (false, _) if notice.is_empty() => t.not_available,
        (true, false) => t.no_relay,
        _ => notice,
    };
    let page = ContactPage {
        t,
        registry: &s.registry.settings().registry_name,
        pt_href: lang_href(&format!("/contact/{ascii}"), "pt", ""),
        en_href: lang_href(&format!("/contact/{ascii}"), "en", ""),
        domain: unicode,
        domain_ascii: ascii,
        enabled,
        sent,
        notice: notice.to_string(),
        from_name: f.from_name,
        from_email: f.from_email,
        subject: f.subject,
        message: f.message,
        challenge: question,
        token,
    };
    let mut resp = html(page.render());
    if !registered {
        *resp.status_mut() = StatusCode::NOT_FOUND;
    }
    resp
}

async fn contact_form(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path(domain): Path<String>,
) -> Response {
    let t = texts(q.as_deref(), &headers);
    contact_page(&s, t, &domain, ContactForm::default(), "", false)
}

async fn contact_send(
    State(s): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path(domain): Path<String>,
    Form(f): Form<ContactForm>,
) -> Response {
    let t = texts(q.as_deref(), &headers);
    let Some((ascii, unicode, to)) = target(&s, &domain) else {
        return contact_page(&s, t, &domain, f, "", false);
    };
    let Some(mailer) = s.mailer.clone() else {
        let mut r = contact_page(&s, t, &domain, f, "", false);
        *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        return r;
    };
    if !check_challenge(&f.token, &f.answer, crate::clock::Clock::wall_now().0) {
        let mut r = contact_page(&s, t, &domain, f, t.wrong_answer, false);
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return r;
    }
    let valid = |v: &str, max: usize| !v.trim().is_empty() && v.chars().count() <= max;
    let email_ok = f.from_email.contains('@') && !f.from_email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !(valid(&f.from_name, 100)
        && valid(&f.subject, 150)
        && valid(&f.message, 5_000)
        && email_ok
        && f.from_email.len() <= 254)
        || f.from_name.chars().any(char::is_control)
        || f.subject.chars().any(char::is_control)
    {
        let mut r = contact_page(&s, t, &domain, f, t.bad_input, false);
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return r;
    }
    if contact_limiter().check_key(&ip).is_err() {
        let mut r = contact_page(&s, t, &domain, f, t.too_many, false);
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return r;
    }
    let body = format!(
        "{}\n\n-- \n{}\n{}\n",
        f.message.trim(),
        match t.lang {
            "en" => format!("Sent through the contact form of {} for {unicode}.", s.registry.settings().registry_name),
            _ => format!(
                "Enviado pelo formulário de contacto de {} para {unicode}.",
                s.registry.settings().registry_name
            ),
        },
        match t.lang {
            "en" => "Reply to this message to answer the sender; the registry keeps no copy.",
            _ => "Responda a esta mensagem para responder ao remetente; o registo não guarda cópia.",
        }
    );
    let subject = format!("[{unicode}] {}", f.subject.trim());
    let result = mailer
        .send(crate::mail::Outgoing {
            to: &to,
            reply_to: f.from_email.trim(),
            reply_to_name: f.from_name.trim(),
            subject: &subject,
            body: &body,
        })
        .await;
    let ok = result.is_ok();
    if let Err(e) = &result {
        tracing::warn!(domain = %ascii, error = %e, "contact form message not relayed");
    }
    if let Err(e) = s.registry.contact_relayed(&ascii, ok, Actor::System("contact-form".into())).await {
        tracing::error!(error = %e, "could not record a relayed message");
    }
    if ok {
        contact_page(&s, t, &domain, ContactForm::default(), t.sent, true)
    } else {
        let mut r = contact_page(&s, t, &domain, f, t.failed, false);
        *r.status_mut() = StatusCode::BAD_GATEWAY;
        r
    }
}

pub type SharedMailer = Option<Arc<crate::mail::Mailer>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_verify_only_their_own_answer() {
        let (q, token) = challenge(1_000);
        let nums: Vec<u32> = q.trim_end_matches('?').split(" + ").map(|n| n.parse().unwrap()).collect();
        let answer = (nums[0] + nums[1]).to_string();
        assert!(check_challenge(&token, &answer, 1_000));
        assert!(!check_challenge(&token, &(nums[0] + nums[1] + 1).to_string(), 1_000));
        assert!(!check_challenge(&token, &answer, 1_000 + 3_601), "expired");
        let forged = token.replacen(&format!(".{}.", nums[0]), ".0.", 1);
        assert!(!check_challenge(&forged, &nums[1].to_string(), 1_000), "tampered numbers");
        assert!(!check_challenge("garbage", "3", 1_000));
    }
}
