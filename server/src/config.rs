//! Typed settings, loaded once at start from an optional TOML file and the
//! `PORTCULLIS_*` environment (which wins), validated, then passed down.
//! Nothing else in the server reads the environment.
//!
//! The file is flat: each key is the variable's name without the prefix, in
//! lower case (`PORTCULLIS_PUBLIC_URL` ↔ `public_url = "..."`). An unknown
//! key is an error, so a typo cannot silently fall back to a default.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use lettre::message::Mailbox;

use crate::domain::{Email, Secret};

const ENV_PREFIX: &str = "PORTCULLIS_";

/// Every key the file and environment may set, with what it means; the
/// README's table is this list.
pub const KEYS: &[(&str, &str)] = &[
    ("listen", "address to bind"),
    ("public_url", "base of `iss` and of links in emails"),
    (
        "database_url",
        "SQLite (embedded default) or postgres://...",
    ),
    (
        "data_dir",
        "embedded database, generated master key, mail outbox",
    ),
    (
        "master_key",
        "32 bytes, base64; encrypts signing keys at rest",
    ),
    ("bootstrap_admin_email", "the first superadmin's email"),
    (
        "bootstrap_admin_password",
        "the first superadmin's password",
    ),
    (
        "cookie_secure",
        "`false` only for plain-http local development",
    ),
    ("log", "log filter"),
    ("log_format", "`text` or `json`"),
    ("argon2_memory_kib", "argon2id memory cost"),
    ("argon2_iterations", "argon2id time cost"),
    ("argon2_parallelism", "argon2id lanes"),
    ("hash_threads", "threads that hash passwords"),
    (
        "refresh_reuse_grace_secs",
        "see `Config::refresh_reuse_grace`",
    ),
    (
        "smtp_url",
        "smtp:// (STARTTLS when offered) or smtps://; unset: .eml files in {dataDir}/outbox",
    ),
    (
        "mail_from",
        "sender of password-reset and verification mail",
    ),
    (
        "trusted_proxies",
        "comma-separated CIDRs whose `X-Forwarded-For` is believed",
    ),
    (
        "request_timeout_secs",
        "longest the body may take to arrive, and the handler after it",
    ),
    (
        "token_cache_secs",
        "how long a Bearer-token check is reused; bounds how late another instance's revocation applies here (0: off)",
    ),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Without a trailing slash.
    pub public_url: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub master_key: Option<Secret<String>>,
    pub bootstrap_admin_email: Email,
    pub bootstrap_admin_password: Option<Secret<String>>,
    pub cookie_secure: bool,
    pub log: String,
    pub log_json: bool,
    pub argon2: Argon2Config,
    /// Threads dedicated to argon2; each holds one hash's memory at most.
    pub hash_threads: usize,
    /// A retired refresh token presented again within this time of its
    /// rotation is refused without revoking the session: it is the loser of
    /// a concurrent refresh (two tabs, a retried request), not a thief.
    /// Later than this, reuse revokes the whole session. 0 turns it off.
    pub refresh_reuse_grace: Duration,
    /// Audit events older than this are deleted in the background.
    pub audit_retention: Duration,
    /// Where mail goes; `None` writes `.eml` files to `{data_dir}/outbox`.
    /// A secret, because the URL may carry the SMTP password.
    pub smtp_url: Option<Secret<String>>,
    /// The `From` of every mail.
    pub mail_from: Mailbox,
    /// Peers allowed to say who the client is in `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpNet>,
    /// Longest a body may take to arrive (then 408: a slow client) and a
    /// handler may run after it (then 503: a slow server); a bound on what
    /// one connection can hold.
    pub request_timeout: Duration,
    /// How long a successful Bearer-token check may be reused
    /// (`service::token_cache`). Changes made by this process end a reuse
    /// at once; this bounds how late one made by another instance sharing
    /// the database (or the CLI) applies here. Zero turns reuse off.
    pub token_cache: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Config {
    /// OWASP's first argon2id recommendation: m=19 MiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("config file {path}: unknown key `{key}` (known: {known})")]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("config file {path}: `{key}` must be a string, number or boolean")]
    BadFileValue { path: PathBuf, key: String },
    #[error("{var} (or `{key}` in the config file): {message}")]
    Invalid {
        var: String,
        key: &'static str,
        message: String,
    },
}

impl Config {
    /// Reads the file (if any) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        Self::from_sources(file, &env)
    }

    /// Builds the settings from a file and an explicit environment map, so
    /// tests never touch the process environment.
    pub fn from_sources(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut raw = match file {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        for (key, _) in KEYS {
            if let Some(value) = env.get(&env_name(key)) {
                raw.insert((*key).to_owned(), value.clone());
            }
        }
        Self::from_raw(&Raw(raw))
    }

    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let data_dir = PathBuf::from(raw.get("data_dir").unwrap_or("data"));
        let database_url = match raw.get("database_url") {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}/portcullis.db?mode=rwc", data_dir.display()),
        };
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(invalid(
                "database_url",
                "must start with sqlite: or postgres://",
            ));
        }
        let public_url = raw
            .get("public_url")
            .unwrap_or("http://localhost:8080")
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.contains(['?', '#', ' '])
        {
            return Err(invalid(
                "public_url",
                "must be an http:// or https:// URL without query or fragment",
            ));
        }
        let log_json = match raw.get("log_format").unwrap_or("text") {
            "text" => false,
            "json" => true,
            _ => return Err(invalid("log_format", "must be `text` or `json`")),
        };
        let argon2 = Argon2Config {
            memory_kib: raw.parse("argon2_memory_kib", 19_456)?,
            iterations: raw.parse("argon2_iterations", 2)?,
            parallelism: raw.parse("argon2_parallelism", 1)?,
        };
        if argon2.memory_kib < 8 * argon2.parallelism || argon2.iterations == 0 {
            return Err(invalid(
                "argon2_memory_kib",
                "argon2 needs at least 8 KiB per lane and one iteration",
            ));
        }
        let default_threads = std::thread::available_parallelism().map_or(1, usize::from);
        let hash_threads = raw.parse("hash_threads", default_threads)?;
        if hash_threads == 0 {
            return Err(invalid("hash_threads", "must be at least 1"));
        }
        let audit_retention_days: u64 = raw.parse("audit_retention_days", 90)?;
        if !(1..=3650).contains(&audit_retention_days) {
            return Err(invalid(
                "audit_retention_days",
                "must be between 1 and 3650",
            ));
        }
        let bootstrap_admin_email = Email::parse(
            raw.get("bootstrap_admin_email")
                .unwrap_or("admin@localhost"),
        )
        .map_err(|m| invalid("bootstrap_admin_email", &m))?;
        if let Some(password) = raw.get("bootstrap_admin_password")
            && password.chars().count() < 8
        {
            return Err(invalid(
                "bootstrap_admin_password",
                "must be at least 8 characters",
            ));
        }
        let smtp_url = raw.get("smtp_url").map(str::trim).filter(|u| !u.is_empty());
        if let Some(url) = smtp_url {
            check_smtp_url(url).map_err(|m| invalid("smtp_url", m))?;
        }
        let trusted_proxies = raw
            .get("trusted_proxies")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_cidr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| invalid("trusted_proxies", &m))?;
        let request_timeout_secs: u64 = raw.parse("request_timeout_secs", 30)?;
        if !(1..=600).contains(&request_timeout_secs) {
            return Err(invalid("request_timeout_secs", "must be between 1 and 600"));
        }
        let token_cache_secs: u64 = raw.parse("token_cache_secs", 1)?;
        if token_cache_secs > 60 {
            return Err(invalid("token_cache_secs", "must be between 0 and 60"));
        }
        let mail_from = raw
            .get("mail_from")
            .unwrap_or("Portcullis <no-reply@localhost>")
            .parse::<Mailbox>()
            .map_err(|e| {
                invalid(
                    "mail_from",
                    &format!("must be an address like `Name <name@example.com>` ({e})"),
                )
            })?;
        Ok(Self {
            listen: raw.parse("listen", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            public_url,
            database_url,
            data_dir,
            master_key: raw.get("master_key").map(|k| Secret::new(k.to_owned())),
            bootstrap_admin_email,
            bootstrap_admin_password: raw
                .get("bootstrap_admin_password")
                .map(|p| Secret::new(p.to_owned())),
            cookie_secure: raw.parse("cookie_secure", true)?,
            log: raw.get("log").unwrap_or("info").to_owned(),
            log_json,
            argon2,
            hash_threads,
            refresh_reuse_grace: Duration::from_secs(raw.parse("refresh_reuse_grace_secs", 10)?),
            audit_retention: Duration::from_secs(audit_retention_days * 24 * 3600),
            smtp_url: smtp_url.map(|u| Secret::new(u.to_owned())),
            mail_from,
            trusted_proxies,
            request_timeout: Duration::from_secs(request_timeout_secs),
            token_cache: Duration::from_secs(token_cache_secs),
        })
    }
}

/// `10.0.0.0/8`, `2001:db8::/32`, or one address (a /32 or /128).
fn parse_cidr(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP address or CIDR like 10.0.0.0/8"))
}

/// An SMTP URL the mailer can use. The message never repeats the URL: it
/// may carry a password.
fn check_smtp_url(text: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(text).map_err(|_| "is not a valid URL")?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err("must start with smtp:// or smtps://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host, e.g. smtp://mail.example.com:587");
    }
    match url.query_pairs().find(|(k, _)| k == "tls") {
        None => Ok(()),
        Some((_, v)) if v == "required" || v == "opportunistic" => Ok(()),
        Some(_) => Err("`tls` may only be `required` or `opportunistic`"),
    }
}

/// `PORTCULLIS_` + the key in upper case.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_uppercase())
}

fn invalid(key: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        var: env_name(key),
        key,
        message: message.to_owned(),
    }
}

struct Raw(BTreeMap<String, String>);

impl Raw {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn parse<T: std::str::FromStr>(&self, key: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse()
                .map_err(|e| invalid(key, &format!("{text:?} is not valid: {e}"))),
        }
    }
}

fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::ParseFile {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
    let mut raw = BTreeMap::new();
    for (key, value) in table {
        if !KEYS.iter().any(|(known, _)| *known == key) {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                known: KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "),
                key,
            });
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(ConfigError::BadFileValue {
                    path: path.to_owned(),
                    key,
                });
            }
        };
        raw.insert(key, text);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url, "http://localhost:8080");
        assert_eq!(config.database_url, "sqlite://data/portcullis.db?mode=rwc");
        assert_eq!(config.bootstrap_admin_email.as_str(), "admin@localhost");
        assert!(config.cookie_secure);
        assert_eq!(config.argon2, Argon2Config::default());
        assert!(config.smtp_url.is_none());
        assert_eq!(
            config.mail_from.to_string(),
            "Portcullis <no-reply@localhost>"
        );
    }

    #[test]
    fn mail_settings_are_checked_at_start() {
        let config = Config::from_sources(
            None,
            &env(&[
                ("PORTCULLIS_SMTP_URL", "smtps://user:pw@mail.example.com"),
                ("PORTCULLIS_MAIL_FROM", "Acme Login <login@acme.example>"),
            ]),
        )
        .unwrap();
        assert!(config.smtp_url.is_some());
        assert_eq!(config.mail_from.email.to_string(), "login@acme.example");
        for (var, value) in [
            ("PORTCULLIS_MAIL_FROM", "not an address"),
            ("PORTCULLIS_SMTP_URL", "http://mail.example.com"),
            ("PORTCULLIS_SMTP_URL", "smtp://"),
            ("PORTCULLIS_SMTP_URL", "smtp://host?tls=sometimes"),
        ] {
            let err = Config::from_sources(None, &env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(var), "{err}");
        }
        let err = Config::from_sources(None, &env(&[("PORTCULLIS_SMTP_URL", "ftp://u:hunter2@x")]))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("portcullis-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("portcullis.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\ncookie_secure = false\n").unwrap();
        let config = Config::from_sources(
            Some(&file),
            &env(&[("PORTCULLIS_LISTEN", "127.0.0.1:9001")]),
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9001");
        assert!(!config.cookie_secure);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = Config::from_sources(None, &env(&[("PORTCULLIS_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("PORTCULLIS_LISTEN"), "{err}");
        let err = Config::from_sources(None, &env(&[("PORTCULLIS_COOKIE_SECURE", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PORTCULLIS_COOKIE_SECURE"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = std::env::temp_dir().join(format!("portcullis-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("portcullis.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let err = Config::from_sources(Some(&file), &env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownKey { .. }));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
