//! Outgoing mail through the SMTP relay named in the configuration (`[smtp]`), for the
//! anonymised contact form. TLS (STARTTLS) is used when the relay offers it, or required, as
//! configured. The registry keeps no copy of a message: the caller records only that it was
//! relayed.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpSettings, SmtpTls};

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// A message to relay.
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub reply_to: &'a str,
    pub reply_to_name: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

impl Mailer {
    pub fn new(s: &SmtpSettings) -> Result<Mailer, String> {
        let tls = match s.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Opportunistic => {
                Tls::Opportunistic(TlsParameters::new(s.host.clone()).map_err(|e| e.to_string())?)
            }
            SmtpTls::Required => Tls::Required(TlsParameters::new(s.host.clone()).map_err(|e| e.to_string())?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .tls(tls)
            .timeout(Some(std::time::Duration::from_secs(20)));
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let from: Mailbox = s.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
        Ok(Mailer { transport: b.build(), from })
    }

    pub async fn send(&self, m: Outgoing<'_>) -> Result<(), String> {
        let to: Mailbox = m.to.parse().map_err(|e| format!("recipient: {e}"))?;
        let reply: Mailbox = format!("{} <{}>", m.reply_to_name.replace(['<', '>', '"'], ""), m.reply_to)
            .parse()
            .map_err(|e| format!("reply-to: {e}"))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .reply_to(reply)
            .to(to)
            .subject(m.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.to_string())
            .map_err(|e| e.to_string())?;
        self.transport.send(msg).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
