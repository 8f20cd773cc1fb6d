//! The anonymised contact form (CONTRACT.md section 4; POLICY.md section 4, point 5): the real
//! binary relaying through a real SMTP server on loopback (Python's aiosmtpd writing a Maildir).
//!
//! The holder gets the message with the sender as Reply-To; the sender never sees the holder's
//! address; the registry keeps no copy of the content.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Server, http_agent, http_call, person_body, run, write_config};

const DOMAIN: &str = "titular-exemplo.pt";
const HOLDER: &str = "titular@exemplo-mail.pt";
const SENDER: &str = "ana.visitante@visitante.example";

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// aiosmtpd on loopback, delivering into a Maildir; killed on drop.
pub struct Smtp {
    child: Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl Smtp {
    pub fn start() -> Smtp {
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd");
        let mut smtp = Smtp { child, port, maildir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = smtp.child.try_wait() {
                panic!("aiosmtpd exited with {status}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        smtp
    }

    /// The delivered messages (files of `new/`), oldest first by name.
    pub fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail").join("new");
        let mut files: Vec<_> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files.iter().map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()).collect()
    }

    /// Waits (5 s at most) until `n` messages were delivered.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_config(port: u16) -> String {
    format!("[smtp]\nrelay = \"127.0.0.1:{port}\"\nfrom = \"nao-responder@registo.example\"\n")
}

/// A served registry relaying to `port`, with `titular-exemplo.pt` held by a person whose
/// email is `HOLDER`.
fn registry(dir: &Path, port: u16) -> Server {
    let config = write_config(dir, &smtp_config(port));
    let c = config.to_str().unwrap();
    let (code, out, err) = run(&["init", "--config", c]);
    assert_eq!(code, 0, "init: {out} {err}");
    let (code, out, err) = run(&[
        "registrar",
        "add",
        "--config",
        c,
        "--id",
        "ptreg",
        "--name",
        "Registos Teste, Lda.",
        "--balance-cents",
        "1000000",
    ]);
    assert_eq!(code, 0, "registrar add: {out} {err}");
    let key = out.lines().find_map(|l| l.split("): ").nth(1)).expect("key printed").trim().to_string();
    let s = Server::serve(&config);
    let agent = http_agent();
    let mut holder = person_body();
    holder["email"] = json!(HOLDER);
    let (status, c) = http_call(&agent, "POST", &s.url("/api/v1/contacts"), Some(&key), Some(&holder));
    assert_eq!(status, 201, "{c}");
    let h = c["handle"].as_str().unwrap();
    let body = json!({"name": DOMAIN, "period_years": 1, "registrant": h, "admin": h, "tech": h,
                      "nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]});
    let (status, d) = http_call(&agent, "POST", &s.url("/api/v1/domains"), Some(&key), Some(&body));
    assert_eq!(status, 201, "{d}");
    s
}

/// (status, body) of a GET.
pub fn get(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let mut resp = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
}

/// (status, body) of a form POST.
pub fn post_form(agent: &ureq::Agent, url: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        ser.append_pair(k, v);
    }
    let mut resp = agent
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(ser.finish())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
}

/// The challenge of a form page: (A, B, token), from "... A + B?" and the hidden input.
pub fn challenge(html: &str) -> (u32, u32, String) {
    let start = html.find("<label for=\"answer\">").unwrap_or_else(|| panic!("no challenge in\n{html}"));
    let label = &html[start..];
    let label = &label[..label.find("</label>").unwrap()];
    let q = label.trim_end().strip_suffix('?').unwrap_or_else(|| panic!("not a question: {label}"));
    let mut words = q.rsplit(' ');
    let b = words.next().unwrap().parse().unwrap_or_else(|_| panic!("{label}"));
    assert_eq!(words.next(), Some("+"), "{label}");
    let a = words.next().unwrap().parse().unwrap_or_else(|_| panic!("{label}"));
    let marker = "name=\"token\" value=\"";
    let i = html.find(marker).unwrap_or_else(|| panic!("no token in\n{html}")) + marker.len();
    let token = html[i..][..html[i..].find('"').unwrap()].to_string();
    assert!(!token.is_empty());
    (a, b, token)
}

/// The form of `DOMAIN` in English: (A, B, token).
fn open_form(agent: &ureq::Agent, s: &Server) -> (u32, u32, String) {
    let (status, html) = get(agent, &s.url(&format!("/contact/{DOMAIN}?lang=en")));
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains(HOLDER) && !html.contains("exemplo-mail"), "the holder's address on the form:\n{html}");
    challenge(&html)
}

/// Sends one message through a freshly opened form, answering its question rightly or (when
/// `right` is false) wrongly: (status, page). The answer is computed from the challenge that is
/// posted: a wrong answer taken from another form's question could be right for this one.
fn send(agent: &ureq::Agent, s: &Server, subject: &str, message: &str, right: bool) -> (u16, String) {
    let (a, b, token) = open_form(agent, s);
    let answer = if right { a + b } else { a + b + 1 }.to_string();
    let answer = answer.as_str();
    post_form(
        agent,
        &s.url(&format!("/contact/{DOMAIN}?lang=en")),
        &[
            ("from_name", "Ana Visitante"),
            ("from_email", SENDER),
            ("subject", subject),
            ("message", message),
            ("answer", answer),
            ("token", &token),
        ],
    )
}

/// A message's headers (unfolded, names in lower case) and its body, decoded.
pub fn parse_mail(raw: &str) -> (Vec<(String, String)>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let cte = headers.iter().find(|(k, _)| k == "content-transfer-encoding").map(|(_, v)| v.to_ascii_lowercase());
    let body = match cte.as_deref() {
        Some("base64") => {
            use base64::Engine;
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(compact).unwrap()).into_owned()
        }
        Some("quoted-printable") => quoted_printable(body),
        _ => body.to_string(),
    };
    (headers, body)
}

fn quoted_printable(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let Some(hex) = s.get(i + 1..i + 3)
                && let Ok(v) = u8::from_str_radix(hex, 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

/// Whether `needle` occurs in any file under `dir`.
fn found_in_files(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

/// A marker no other run uses.
fn marker() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("MARCADOR-{}-{nanos}", std::process::id())
}

#[test]
fn a_message_reaches_the_holder_and_nowhere_else() {
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let s = registry(dir.path(), smtp.port);
    let agent = http_agent();

    // The form, in either language, never shows the holder's address.
    let (status, html) = get(&agent, &s.url(&format!("/contact/{DOMAIN}")));
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains(HOLDER) && !html.contains("exemplo-mail"), "{html}");
    assert!(html.contains(DOMAIN) && html.contains("name=\"token\""), "{html}");

    // A wrong answer: 422, and nothing is sent.
    let (status, html) = send(&agent, &s, "Pergunta", "Texto", false);
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("The answer to the question is not right"), "{html}");
    assert!(!html.contains(HOLDER), "{html}");
    // A forged token does not pass either.
    let (status, _) = post_form(
        &agent,
        &s.url(&format!("/contact/{DOMAIN}?lang=en")),
        &[
            ("from_name", "Ana Visitante"),
            ("from_email", SENDER),
            ("subject", "Pergunta"),
            ("message", "Texto"),
            ("answer", "2"),
            ("token", "99999999999.1.1.00"),
        ],
    );
    assert_eq!(status, 422);

    // The right answer: sent.
    let mark = marker();
    let text = format!("Bom dia. Gostaria de comprar o seu domínio. {mark} Obrigada.");
    let (status, html) = send(&agent, &s, "Proposta de compra", &text, true);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Message sent to the holder."), "{html}");
    assert!(!html.contains(HOLDER) && !html.contains("exemplo-mail"), "the sender sees no address:\n{html}");

    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "one message delivered: {mails:?}");
    let (headers, body) = parse_mail(&mails[0]);
    let to = header(&headers, "to");
    assert_eq!(to.len(), 1, "{headers:?}");
    assert!(to[0].contains(HOLDER), "To: {to:?}");
    let reply_to = header(&headers, "reply-to");
    assert!(reply_to.len() == 1 && reply_to[0].contains(SENDER), "Reply-To: {reply_to:?}");
    assert!(header(&headers, "from").iter().any(|f| f.contains("nao-responder@registo.example")), "{headers:?}");
    assert!(!header(&headers, "from").iter().any(|f| f.contains(SENDER)), "the relay sends as itself: {headers:?}");
    assert!(header(&headers, "subject").iter().any(|v| v.contains("Proposta de compra")), "{headers:?}");
    assert!(body.contains(&mark), "the message text: {body}");
    assert!(body.contains(&text), "the message text, whole: {body}");
    // The envelope goes to the holder as well (aiosmtpd's X-RcptTo).
    assert!(header(&headers, "x-rcptto").iter().any(|v| v.contains(HOLDER)), "{headers:?}");

    // Three messages within the hour are allowed; the fourth is refused.
    for i in 2..=3 {
        let (status, html) = send(&agent, &s, &format!("Mensagem {i}"), &format!("Texto {i}"), true);
        assert_eq!(status, 200, "message {i}: {html}");
    }
    assert_eq!(smtp.wait_for(3).len(), 3);
    let (status, html) = send(&agent, &s, "Mensagem 4", "Texto 4", true);
    assert_eq!(status, 429, "{html}");
    assert!(html.contains("Too many messages"), "{html}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.messages().len(), 3, "the refused message was not sent");

    // A free name has no form.
    let (status, html) = get(&agent, &s.url("/contact/livre-de-todo.pt?lang=en"));
    assert_eq!(status, 404, "{html}");
    assert!(!html.contains("name=\"token\""), "{html}");
    let (status, _) = post_form(
        &agent,
        &s.url("/contact/livre-de-todo.pt?lang=en"),
        &[
            ("from_name", "Ana"),
            ("from_email", SENDER),
            ("subject", "x"),
            ("message", "x"),
            ("answer", "2"),
            ("token", "x"),
        ],
    );
    assert_eq!(status, 404);

    // The registry keeps no copy: after a clean stop, the text is in no file of its data.
    assert_eq!(s.terminate().code(), Some(0));
    let hits = found_in_files(dir.path(), mark.as_bytes());
    assert!(hits.is_empty(), "the message text was kept in {hits:?}");
    let hits = found_in_files(dir.path(), b"Proposta de compra");
    assert!(hits.is_empty(), "the subject was kept in {hits:?}");
}

#[test]
fn relay_down_answers_502() {
    let dir = tempfile::tempdir().unwrap();
    let s = registry(dir.path(), free_port());
    let agent = http_agent();
    let (status, html) = send(&agent, &s, "Pergunta", "Texto", true);
    assert_eq!(status, 502, "{html}");
    assert!(html.contains("The message could not be sent now"), "{html}");
    assert!(!html.contains(HOLDER), "{html}");
    // The visitor's text is kept in the form for a retry.
    assert!(html.contains("Texto"), "{html}");
    assert_eq!(s.terminate().code(), Some(0));
}
