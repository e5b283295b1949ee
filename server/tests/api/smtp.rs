//! A real SMTP server for the tests, on a random local port: it speaks
//! enough of RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for
//! lettre, offers no STARTTLS and no AUTH, and keeps every message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::{TestApp, spawn_app_with};

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub raw: String,
}

impl ReceivedMail {
    /// The message with quoted-printable soft breaks and escapes undone,
    /// so links can be read from it.
    pub fn decoded(&self) -> String {
        decode_quoted_printable(&self.raw)
    }

    /// The link to the hosted `page` (`reset-password` or `verify-email`),
    /// if the mail has one.
    pub fn link(&self, page: &str) -> Option<String> {
        let text = self.decoded();
        let marker = format!("/{page}?token=");
        let at = text.find(&marker)?;
        let start = text[..at].rfind("http")?;
        let token_len = text[at + marker.len()..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(text.len() - at - marker.len());
        Some(text[start..at + marker.len() + token_len].to_owned())
    }

    /// The token of the link to `page`.
    pub fn token(&self, page: &str) -> Option<String> {
        let link = self.link(page)?;
        link.split_once("?token=").map(|(_, t)| t.to_owned())
    }
}

pub struct SmtpServer {
    pub port: u16,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Inbox {
    mails: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("smtp addr").port();
        let inbox = Arc::new(Inbox::default());
        let accepting = Arc::clone(&inbox);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = Arc::clone(&accepting);
                tokio::spawn(async move {
                    let _ = session(stream, &inbox).await;
                });
            }
        });
        Self { port, inbox, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.inbox.mails.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `count` mails arrived; returns all.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.inbox.arrived.notified();
            let mails = self.received();
            if mails.len() >= count {
                return mails;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("expected {count} mails, got {}", self.received().len());
            }
        }
    }

    /// Asserts that exactly `count` mails arrived and no more follow
    /// within a short while; returns them.
    pub async fn expect_exactly(&self, count: usize) -> Vec<ReceivedMail> {
        self.wait_for(count).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mails = self.received();
        assert_eq!(mails.len(), count, "{mails:#?}");
        mails
    }
}

/// The app, sending mail to a fresh test SMTP server.
pub async fn spawn_app_with_smtp() -> (TestApp, SmtpServer) {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let app = spawn_app_with(&[("PORTCULLIS_SMTP_URL", &url)]).await;
    (app, smtp)
}

async fn session(stream: TcpStream, inbox: &Inbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 localhost test SMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let line = read_line(&mut reader).await?;
        let Some(line) = line else { return Ok(()) };
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-localhost\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") {
            b"250 localhost\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_owned();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut raw = String::new();
            loop {
                let Some(data) = read_line(&mut reader).await? else {
                    return Ok(());
                };
                if data == "." {
                    break;
                }
                // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
                raw.push_str(data.strip_prefix('.').unwrap_or(&data));
                raw.push_str("\r\n");
            }
            inbox.mails.lock().unwrap().push(ReceivedMail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                raw,
            });
            inbox.arrived.notify_waiters();
            b"250 OK queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// One line without its CRLF; `None` at end of stream.
async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if reader.read_until(b'\n', &mut bytes).await? == 0 {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&bytes);
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes[i] == b'='
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit();
        if escaped {
            out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
