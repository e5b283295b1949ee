use std::fmt;

/// An email address, trimmed and lower-cased (API.md: emails are compared
/// in that form). The check is the mailer's (`lettre` reads the recipient
/// as a mailbox: RFC 5322 local parts, UTF-8 included, and a host name)
/// and no stricter, because only a delivered mail proves an address; but
/// an address the mailer cannot send to would leave its user without
/// verification or reset mails, so it is refused at the door.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// RFC 5321 limits a forward path to 254 octets.
const MAX_LEN: usize = 254;

impl Email {
    pub fn parse(input: &str) -> Result<Self, String> {
        let email = input.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required".into());
        }
        if email.len() > MAX_LEN {
            return Err(format!("must be at most {MAX_LEN} characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        // A dotless domain (`admin@localhost`, the contract's default
        // bootstrap address) passes: it is valid on intranets. The whole
        // input must be the mailbox's address: `x<a@b.c>` reads as a
        // mailbox too, one that sends to someone else.
        let sendable = email
            .parse::<lettre::message::Mailbox>()
            .is_ok_and(|mailbox| mailbox.name.is_none() && mailbox.email.to_string() == email);
        if !sendable {
            return Err("must be an email address like name@example.com".into());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn trims_and_lowercases() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn accepts_plus_and_subdomains() {
        assert!(Email::parse("a.b+tag@mail.example.co.uk").is_ok());
        assert!(Email::parse("admin@localhost.localdomain").is_ok());
        assert!(Email::parse("admin@localhost").is_ok());
        assert!(Email::parse("o'brien@example.ie").is_ok());
        assert!(Email::parse("josé@exämple.com").is_ok());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "a@",
            "a@@b.com",
            "a@b..com",
            "a b@c.com",
            // What the mailer cannot send to (seen accepted by fuzzing).
            "a@-b",
            "a@b-.com",
            "¬@x",
            "a\"b@c.com",
            "a@[127.0.0.1]",
            "x<a@b.com>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse("a@b.com\u{0}").is_err());
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
