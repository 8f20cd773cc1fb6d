//! The demo's greeting: once every listener is bound, a short summary on standard output of
//! where to click and what to try, with the real (bound) addresses, in Portuguese or English by
//! the locale. Every line names something that works as printed: tests/it/greeting.rs runs each.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde_json::Value;

/// The summary's language: Portuguese when the locale (`LC_ALL`, else `LC_MESSAGES`, else
/// `LANG`: the first one set and not empty, as POSIX orders them) starts with `pt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Pt,
    En,
}

impl Lang {
    pub fn from_locale(get: impl Fn(&str) -> Option<String>) -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"].iter().find_map(|k| get(k).filter(|v| !v.is_empty()));
        match locale {
            Some(l) if l.to_ascii_lowercase().starts_with("pt") => Lang::Pt,
            _ => Lang::En,
        }
    }

    pub fn from_env() -> Lang {
        Lang::from_locale(|k| std::env::var(k).ok())
    }
}

/// What the greeting names: the bound addresses and the demo's credentials.
pub struct Facts {
    /// `http://ADDR` or `https://ADDR` of the bound HTTP listener.
    pub http: String,
    pub whois: SocketAddr,
    pub epp: Option<SocketAddr>,
    pub dns: Option<SocketAddr>,
    /// A registered domain to look up.
    pub domain: String,
    /// `demo-credentials.json`'s contents.
    pub creds: Value,
    pub creds_path: String,
    /// The published zone files' paths.
    pub zone_files: Vec<String>,
    /// The contact form's relay (`host:port`), when one is configured.
    pub smtp: Option<String>,
}

/// An address a client on this machine can reach: a wildcard listener is reached on loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

/// `s` as one shell word: left alone when it holds only characters no shell treats specially.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:@=+,%".contains(c));
    if plain { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// The greeting's text: labelled lines, each a URL or a command that works as printed.
pub fn render(lang: Lang, f: &Facts) -> String {
    let pt = lang == Lang::Pt;
    let t = |p: &'static str, e: &'static str| if pt { p } else { e };
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        out.push_str(&format!("  {label:<13} {text}\n"));
    };
    let http = &f.http;
    let whois = reachable(f.whois);
    let first = f.creds["registrars"].get(0).cloned().unwrap_or(Value::Null);

    let mut head = String::new();
    head.push_str(t(
        "\nnicbox demo: registo .pt de demonstração a funcionar (dados de exemplo)\n\n",
        "\nnicbox demo: a .pt demo registry is running (sample data)\n\n",
    ));
    line(t("Página", "Public page"), format!("{http}/"));
    if let (Some(user), Some(pw)) = (str_at(&f.creds, &["admin", "username"]), str_at(&f.creds, &["admin", "password"]))
    {
        line(
            t("Admin", "Admin UI"),
            format!("{http}/admin/login  {} {user}, {} {pw}", t("utilizador", "user"), t("palavra-passe", "password")),
        );
    }
    line(
        "WHOIS",
        format!("whois -h {} -p {} {}", shell_word(&whois.ip().to_string()), whois.port(), shell_word(&f.domain)),
    );
    line("RDAP", format!("{http}/rdap/domain/{}", f.domain));
    if let (Some(id), Some(key)) = (str_at(&first, &["id"]), str_at(&first, &["api_key"])) {
        line(
            "API",
            format!(
                "curl -H {} {http}/api/v1/account   ({} {id})",
                shell_word(&format!("Authorization: Bearer {key}")),
                t("registrador", "registrar")
            ),
        );
    }
    if let Some(epp) = f.epp.map(reachable) {
        line("EPP", format!("{epp}  {}", t("(TLS com certificado de cliente)", "(TLS with a client certificate)")));
        if let (Some(ca), Some(cert), Some(key)) =
            (str_at(&f.creds, &["epp", "ca_cert"]), str_at(&first, &["client_cert"]), str_at(&first, &["client_key"]))
        {
            line(
                "",
                format!(
                    "openssl s_client -connect {epp} -CAfile {} -cert {} -key {}",
                    shell_word(ca),
                    shell_word(cert),
                    shell_word(key)
                ),
            );
            line(
                "",
                t(
                    "(a saudação EPP chega logo; palavra-passe EPP no ficheiro de credenciais)",
                    "(the EPP greeting arrives at once; the EPP password is in the credentials file)",
                )
                .into(),
            );
        }
    }
    if let Some(dns) = f.dns.map(reachable) {
        line(
            "DNS",
            format!(
                "{dns}  {}",
                t("(primário escondido: AXFR/IXFR com TSIG)", "(hidden primary: AXFR/IXFR with TSIG)")
            ),
        );
        if let (Some(name), Some(alg), Some(secret)) = (
            str_at(&f.creds, &["dns", "tsig", "name"]),
            str_at(&f.creds, &["dns", "tsig", "algorithm"]),
            str_at(&f.creds, &["dns", "tsig", "secret"]),
        ) {
            line(
                "",
                format!(
                    "kdig @{} -p {} -y {} AXFR pt.",
                    shell_word(&dns.ip().to_string()),
                    dns.port(),
                    shell_word(&format!("{alg}:{name}:{secret}"))
                ),
            );
        }
    }
    for z in &f.zone_files {
        line(t("Zona", "Zone file"), shell_word(z));
    }
    let contact = format!("{http}/contact/{}", f.domain);
    match &f.smtp {
        Some(relay) => line(
            t("Contacto", "Contact form"),
            format!("{contact}  ({} {relay})", t("mensagens para", "messages go to")),
        ),
        None => line(
            t("Contacto", "Contact form"),
            format!(
                "{contact}  ({})",
                t(
                    "não envia: python3 -m aiosmtpd -n -l 127.0.0.1:2525 e nicbox demo --smtp 127.0.0.1:2525",
                    "sends nothing: python3 -m aiosmtpd -n -l 127.0.0.1:2525 and nicbox demo --smtp 127.0.0.1:2525"
                )
            ),
        ),
    }
    line(
        t("Credenciais", "Credentials"),
        format!(
            "{}  {}",
            shell_word(&f.creds_path),
            t(
                "(chaves da API, palavras-passe EPP, certificados, TSIG)",
                "(API keys, EPP passwords, certificates, TSIG key)"
            )
        ),
    );
    out.push_str(t("\nCtrl-C para parar. Registo a seguir:\n", "\nCtrl-C stops it. The log follows:\n"));
    head + &out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_picks_the_language() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(Lang::from_locale(env(&[("LANG", "pt_PT.UTF-8")])), Lang::Pt);
        assert_eq!(Lang::from_locale(env(&[("LANG", "pt_BR.UTF-8")])), Lang::Pt);
        assert_eq!(Lang::from_locale(env(&[("LANG", "en_GB.UTF-8")])), Lang::En);
        assert_eq!(Lang::from_locale(env(&[])), Lang::En);
        assert_eq!(Lang::from_locale(env(&[("LANG", "pt_PT.UTF-8"), ("LC_ALL", "C")])), Lang::En);
        assert_eq!(Lang::from_locale(env(&[("LANG", "en_US"), ("LC_MESSAGES", "pt_PT")])), Lang::Pt);
        assert_eq!(Lang::from_locale(env(&[("LC_ALL", ""), ("LANG", "pt_PT")])), Lang::Pt);
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("/tmp/a-b.pem"), "/tmp/a-b.pem");
        assert_eq!(shell_word("/tmp/my demo/a.pem"), "'/tmp/my demo/a.pem'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(reachable("0.0.0.0:43".parse().unwrap()), "127.0.0.1:43".parse().unwrap());
    }
}
