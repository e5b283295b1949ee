//! Outgoing mail: password-reset and verification links, rendered with
//! askama from `templates/mail/` as plain text + HTML, and delivered in the
//! background.
//!
//! A request only renders the message and puts it on a bounded queue;
//! delivery (with a few retries and backoff) happens on a worker task. So
//! sending never slows an answer — the time of `forgot-password` says
//! nothing about whether the account exists — and a failing SMTP server
//! never fails a request. Failures are logged with the user id, never the
//! token or the link.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{Semaphore, mpsc};

use crate::config::Config;
use crate::domain::{Secret, UserId};
use crate::store::user_tokens::UserTokenKind;

/// Messages waiting for delivery; past this, new ones are dropped (and
/// logged) rather than making a request wait.
const QUEUE_CAPACITY: usize = 1024;
/// Deliveries in flight at once, so a slow server cannot pile up tasks.
const CONCURRENT_DELIVERIES: usize = 4;
/// Waits between attempts: four attempts over about a minute and a quarter.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(60),
];
/// Per SMTP command; lettre's default of a minute is long for a queue.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// A mail carrying a single-use token to its user.
pub struct TokenMail<'a> {
    pub kind: UserTokenKind,
    /// A reset link sent as an admin's invitation to choose a first password.
    pub invitation: bool,
    pub user_id: UserId,
    pub to: &'a str,
    /// Names the tenant in the mail, so the reader knows which service wrote.
    pub tenant_name: &'a str,
    pub tenant_slug: &'a str,
    pub token: &'a Secret<String>,
    /// How long the token lives, in seconds (said in the mail).
    pub ttl_seconds: u32,
}

/// What both renderings of a mail show.
struct MailContent<'a> {
    reset: bool,
    invitation: bool,
    tenant_name: &'a str,
    link: &'a str,
    valid_for: String,
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct TextBody<'a> {
    mail: &'a MailContent<'a>,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlBody<'a> {
    mail: &'a MailContent<'a>,
}

struct Outgoing {
    message: Message,
    kind: UserTokenKind,
    user_id: UserId,
}

pub struct Mailer {
    queue: mpsc::Sender<Outgoing>,
    from: Mailbox,
    public_url: String,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in `{dataDir}/outbox`, for a newcomer without SMTP.
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    fn from_config(config: &Config) -> anyhow::Result<Self> {
        let Some(url) = &config.smtp_url else {
            let dir = config.data_dir.join("outbox");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the mail outbox {}", dir.display()))?;
            tracing::info!(outbox = %dir.display(), "no PORTCULLIS_SMTP_URL: mail is written to the outbox");
            return Ok(Self::Outbox(AsyncFileTransport::new(dir)));
        };
        // The URL was checked at start; errors here must not repeat it (it
        // may hold a password).
        let parsed = url::Url::parse(url.expose()).context("PORTCULLIS_SMTP_URL is not a URL")?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .context("PORTCULLIS_SMTP_URL cannot be used")?
            .timeout(Some(SMTP_TIMEOUT));
        let tls_chosen = parsed.query_pairs().any(|(k, _)| k == "tls");
        if parsed.scheme() == "smtp" && !tls_chosen {
            // lettre's plain `smtp://` never upgrades; we use STARTTLS
            // whenever the server offers it.
            let host = parsed.host_str().unwrap_or_default().to_owned();
            let params = TlsParameters::new(host)
                .context("PORTCULLIS_SMTP_URL: cannot set up TLS for this host")?;
            builder = builder.tls(Tls::Opportunistic(params));
        }
        Ok(Self::Smtp(builder.build()))
    }

    async fn send(&self, message: Message) -> Result<(), String> {
        match self {
            Self::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Self::Outbox(files) => files
                .send(message)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }
}

impl Mailer {
    /// Picks the transport and starts the delivery worker (on the current
    /// tokio runtime).
    pub fn start(config: &Config) -> anyhow::Result<Self> {
        let transport = Arc::new(Transport::from_config(config)?);
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(deliver_all(receiver, transport));
        Ok(Self {
            queue,
            from: config.mail_from.clone(),
            public_url: config.public_url.clone(),
        })
    }

    /// Renders the mail and queues it. Never waits for delivery and never
    /// fails the caller: a mail that cannot be built or queued is logged.
    pub fn send(&self, mail: &TokenMail<'_>) {
        let (kind, user_id) = (mail.kind, mail.user_id);
        match self.build(mail) {
            Ok(message) => {
                let outgoing = Outgoing {
                    message,
                    kind,
                    user_id,
                };
                if let Err(e) = self.queue.try_send(outgoing) {
                    tracing::error!(kind = kind.as_str(), %user_id, reason = %e, "mail not queued");
                }
            }
            Err(reason) => {
                tracing::error!(kind = kind.as_str(), %user_id, %reason, "mail not built");
            }
        }
    }

    fn build(&self, mail: &TokenMail<'_>) -> Result<Message, String> {
        let (page, subject) = match mail.kind {
            UserTokenKind::PasswordReset if mail.invitation => {
                ("reset-password", "Choose your password")
            }
            UserTokenKind::PasswordReset => ("reset-password", "Reset your password"),
            UserTokenKind::EmailVerification => ("verify-email", "Confirm your email address"),
        };
        // The token is base64url: safe in a query string as it is.
        let link = format!(
            "{}/t/{}/{page}?token={}",
            self.public_url,
            mail.tenant_slug,
            mail.token.expose()
        );
        let content = MailContent {
            reset: mail.kind == UserTokenKind::PasswordReset,
            invitation: mail.invitation,
            tenant_name: mail.tenant_name,
            link: &link,
            valid_for: describe_duration(mail.ttl_seconds),
        };
        let text = TextBody { mail: &content }
            .render()
            .map_err(|e| format!("rendering: {e}"))?;
        let html = HtmlBody { mail: &content }
            .render()
            .map_err(|e| format!("rendering: {e}"))?;
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| format!("recipient address: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("{subject} for {}", mail.tenant_name))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("message: {e}"))
    }
}

async fn deliver_all(mut receiver: mpsc::Receiver<Outgoing>, transport: Arc<Transport>) {
    let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
    while let Some(outgoing) = receiver.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let transport = Arc::clone(&transport);
        tokio::spawn(async move {
            deliver(&transport, outgoing).await;
            drop(slot);
        });
    }
}

async fn deliver(transport: &Transport, outgoing: Outgoing) {
    let Outgoing {
        message,
        kind,
        user_id,
    } = outgoing;
    let mut delays = RETRY_DELAYS.iter();
    for attempt in 1.. {
        match transport.send(message.clone()).await {
            Ok(()) => {
                tracing::info!(kind = kind.as_str(), %user_id, attempt, "mail sent");
                return;
            }
            Err(reason) => match delays.next() {
                Some(delay) => {
                    tracing::warn!(kind = kind.as_str(), %user_id, attempt, %reason, "mail delivery failed; will retry");
                    tokio::time::sleep(*delay).await;
                }
                None => {
                    tracing::error!(kind = kind.as_str(), %user_id, attempt, %reason, "mail delivery failed; giving up");
                    return;
                }
            },
        }
    }
}

/// "30 minutes", "1 hour", "2 days": how long a link works, for people.
fn describe_duration(seconds: u32) -> String {
    let (amount, unit) = match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s => (s.div_ceil(60).max(1), "minute"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    format!("{amount} {unit}{plural}")
}

#[cfg(test)]
mod tests {
    use super::describe_duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe_duration(1800), "30 minutes");
        assert_eq!(describe_duration(3600), "1 hour");
        assert_eq!(describe_duration(86_400), "1 day");
        assert_eq!(describe_duration(172_800), "2 days");
        assert_eq!(describe_duration(90), "2 minutes");
        assert_eq!(describe_duration(5), "1 minute");
    }
}
