//! The demo's greeting (issue 16 items 1 and 2): the summary on standard output names every
//! listener the demo opened, and each URL and command in it works as printed: the URLs are
//! fetched, the commands run through `sh` with the real clients (Debian's whois, curl, kdig,
//! openssl). The contact form: open without a relay, saying so; delivering with `--smtp`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Server, demo_args, http_agent, strip_ansi};
use crate::contact::{Smtp, challenge, get, header, parse_mail, post_form};

/// Starts the demo in `data` with its stdout in `out` and the locale `lang`; the greeting.
fn start(data: &Path, dir: &Path, lang: &str, extra: &[&str]) -> (Server, String) {
    let out = dir.join("stdout.txt");
    let mut args = demo_args(data);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let file = std::fs::File::create(&out).unwrap();
    let s = Server::start_with(
        &args,
        dir,
        Stdio::from(file),
        &[("LANG", Some(lang)), ("LC_ALL", None), ("LC_MESSAGES", None)],
    );
    // The greeting is written before the first `listening` line, so it is whole now.
    let _ = (s.dns(), s.epp());
    let text = std::fs::read_to_string(&out).unwrap();
    (s, text)
}

/// The text after `label` on its line (labels are padded to a column), or panics.
fn field<'a>(greeting: &'a str, label: &str) -> &'a str {
    greeting
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label).filter(|r| r.starts_with(' ')).map(str::trim))
        .unwrap_or_else(|| panic!("no `{label}` line in the greeting:\n{greeting}"))
}

/// The first word group of a field: the URL or command, before two spaces and a note.
fn head(text: &str) -> &str {
    text.split("  ").next().unwrap().trim()
}

/// The continuation line under `label` (the next line, indented, with no label).
fn next_line<'a>(greeting: &'a str, label: &str) -> &'a str {
    let lines: Vec<&str> = greeting.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no {label} line:\n{greeting}"));
    lines[i + 1].trim()
}

/// Runs a shell command line as printed: (exit status ok, stdout, stderr).
fn sh(line: &str) -> (bool, String, String) {
    let out = Command::new("sh").args(["-c", line]).stdin(Stdio::null()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

#[test]
fn greeting_names_every_listener_and_each_line_works() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let (s, g) = start(&data, dir.path(), "en_GB.UTF-8", &[]);
    let agent = http_agent();

    // Every listener the demo opened, as its `listening` lines say, is in the greeting.
    let log: Vec<String> = s.log.lock().unwrap().iter().map(|l| strip_ansi(l)).collect();
    let listeners: Vec<(String, String)> = log
        .iter()
        .filter_map(|l| {
            let rest = &l[l.find("listening protocol=")? + "listening protocol=".len()..];
            let (proto, addr) = rest.split_once(" addr=")?;
            Some((proto.to_string(), addr.trim().to_string()))
        })
        .collect();
    let protos: Vec<&str> = listeners.iter().map(|(p, _)| p.as_str()).collect();
    for p in ["http", "whois", "dns", "epp"] {
        assert!(protos.contains(&p), "{p} listener: {log:?}");
    }
    for (proto, addr) in &listeners {
        // As ADDR:PORT, or as a command's `IP -p PORT` (whois -h, kdig @).
        let a: std::net::SocketAddr = addr.parse().unwrap();
        let named = g.contains(addr.as_str()) || g.contains(&format!("{} -p {} ", a.ip(), a.port()));
        assert!(named, "the {proto} listener {addr} is not in the greeting:\n{g}");
    }
    // In English, and no JSON document on the terminal.
    assert!(g.contains("Public page") && g.contains("Credentials"), "{g}");
    assert!(!g.contains("\"api_key\"") && !g.contains('{'), "the JSON stays in the file:\n{g}");

    // The public page.
    let page = head(field(&g, "Public page"));
    let (status, html) = get(&agent, page);
    assert_eq!(status, 200, "{page}");
    assert!(html.contains("<form"), "{html}");

    // The admin UI, and its user name and password sign in (the admin API takes the same).
    let admin = field(&g, "Admin UI");
    let login = head(admin);
    let (status, html) = get(&agent, login);
    assert_eq!(status, 200, "{login}: {html}");
    assert!(html.contains("name=\"password\""), "{html}");
    let creds = admin.split_once("user ").unwrap().1;
    let (user, password) = creds.split_once(", password ").unwrap();
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.trim()));
    let base = login.strip_suffix("/admin/login").unwrap();
    let resp = agent
        .get(&format!("{base}/admin/api/stats"))
        .header("authorization", &format!("Basic {basic}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "the greeting's admin password signs in");

    // WHOIS with Debian's client, as printed; the answer links the contact form on this port.
    let whois = field(&g, "WHOIS");
    assert!(whois.starts_with("whois -h 127.0.0.1 -p "), "{whois}");
    let (ok, answer, err) = sh(whois);
    assert!(ok, "{whois}: {err}");
    assert!(answer.contains("Domain: ptisp.pt"), "{answer}");
    assert!(answer.contains(&format!("{base}/contact/ptisp.pt")), "the contact link follows the listener:\n{answer}");

    // RDAP.
    let rdap = field(&g, "RDAP");
    let mut resp = agent.get(rdap).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{rdap}");
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["ldhName"], "ptisp.pt", "{v}");

    // The registrar API with curl, as printed.
    let api = head(field(&g, "API"));
    assert!(api.starts_with("curl "), "{api}");
    let (ok, out, err) = sh(api);
    assert!(ok, "{api}: {err}");
    let account: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{api}: {out}"));
    assert_eq!(account["id"], "ptisp", "{account}");

    // EPP over TLS with the named client certificate: openssl, as printed, gets the greeting.
    let epp = next_line(&g, "EPP");
    assert!(epp.starts_with("openssl s_client -connect "), "{epp}");
    let mut child = Command::new("sh")
        .args(["-c", &format!("exec {epp}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("</greeting>") {
                break;
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&seen).into_owned());
    });
    let seen = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("<greeting>") && seen.contains("</greeting>"), "no EPP greeting through {epp}:\n{seen}");
    assert!(seen.contains("Verify return code: 0"), "the server certificate verifies against the CA:\n{seen}");

    // The zone file (published at start) and a kdig AXFR with the TSIG key, as printed.
    let zone = field(&g, "Zone file");
    assert!(wait_until(Duration::from_secs(60), || Path::new(zone).exists()), "{zone} not published");
    let kdig = next_line(&g, "DNS");
    assert!(kdig.starts_with("kdig @127.0.0.1 -p ") && kdig.contains(" -y hmac-sha256:"), "{kdig}");
    let (ok, out, err) = sh(kdig);
    assert!(ok, "{kdig}: {err}");
    assert!(out.contains(";; Received") && out.contains("SOA") && out.contains("TSIG"), "{kdig}:\n{out}{err}");
    assert!(out.contains("ptisp.pt."), "{out}");

    // The contact form: open, saying that messages cannot be sent here; a post answers 503.
    let contact = head(field(&g, "Contact form"));
    let (status, html) = get(&agent, &format!("{contact}?lang=en"));
    assert_eq!(status, 200, "{contact}: {html}");
    assert!(html.contains("Messages cannot be sent on this installation"), "{html}");
    assert!(!html.contains("name=\"token\""), "no form to fill in without a relay: {html}");
    let (status, _) = get(&agent, &format!("{contact}?lang=pt"));
    assert_eq!(status, 200);
    let (status, html) = post_form(
        &agent,
        &format!("{contact}?lang=en"),
        &[
            ("from_name", "A"),
            ("from_email", "a@example.net"),
            ("subject", "s"),
            ("message", "m"),
            ("answer", "1"),
            ("token", "t"),
        ],
    );
    assert_eq!(status, 503, "{html}");
    // A name that is not registered has no form.
    let (status, _) = get(&agent, &format!("{base}/contact/nao-registado-de-todo.pt"));
    assert_eq!(status, 404);

    // The credentials file, where the greeting says.
    let creds = head(field(&g, "Credentials"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(creds).unwrap()).unwrap();
    assert_eq!(v["admin"]["username"], user);
    assert!(
        std::fs::canonicalize(creds).unwrap() == std::fs::canonicalize(data.join("demo-credentials.json")).unwrap()
    );
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn demo_contact_form_delivers_to_a_local_sink_and_greets_in_portuguese() {
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let relay = format!("127.0.0.1:{}", smtp.port);
    let (s, g) = start(&data, dir.path(), "pt_PT.UTF-8", &["--smtp", &relay]);
    assert!(g.contains("Página") && g.contains("Credenciais"), "Portuguese by the locale:\n{g}");
    let contact = field(&g, "Contacto");
    assert!(contact.contains(&relay), "{contact}");
    let url = format!("{}?lang=en", head(contact));

    let agent = http_agent();
    let (status, html) = get(&agent, &url);
    assert_eq!(status, 200, "{html}");
    let (a, b, token) = challenge(&html);
    let (status, html) = post_form(
        &agent,
        &url,
        &[
            ("from_name", "Ana Visitante"),
            ("from_email", "ana@visitante.example"),
            ("subject", "Proposta"),
            ("message", "Olá, gostaria de falar sobre o domínio."),
            ("answer", &(a + b).to_string()),
            ("token", &token),
        ],
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Message sent to the holder."), "{html}");
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (headers, body) = parse_mail(&mails[0]);
    assert!(header(&headers, "from").iter().any(|f| f.contains(nicbox::demo::DEMO_MAIL_FROM)), "{headers:?}");
    assert!(header(&headers, "subject").iter().any(|v| v.contains("Proposta")), "{headers:?}");
    assert!(header(&headers, "x-rcptto").iter().any(|v| v.contains("@")), "{headers:?}");
    assert!(body.contains("gostaria de falar"), "{body}");
    assert_eq!(s.terminate().code(), Some(0));
}
