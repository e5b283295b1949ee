//! What the dashboard's pages share: field errors beside their fields,
//! the fixed notices shown after an action, paging, confirmation pages.

use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Nav;
use crate::domain::{FieldError, Page};

/// A form's errors: those naming one of its fields, shown beside it, and
/// the rest, shown at its top.
#[derive(Default)]
pub struct FormErrors {
    fields: Vec<FieldError>,
    pub general: Vec<String>,
}

impl FormErrors {
    /// Sorts the service's errors by whether `fields` has a place for them.
    pub fn new(errors: Vec<FieldError>, fields: &[&str]) -> Self {
        let (fields, rest): (Vec<_>, Vec<_>) =
            errors.into_iter().partition(|e| fields.contains(&e.field));
        Self {
            fields,
            general: rest.into_iter().map(|e| e.message).collect(),
        }
    }

    /// One message for the form as a whole.
    pub fn message(message: &str) -> Self {
        Self {
            fields: Vec::new(),
            general: vec![message.to_owned()],
        }
    }

    /// The messages for `field`, joined, if it has any.
    pub fn get(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .fields
            .iter()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }
}

/// `?done=` after a successful action: a fixed message, so nothing from
/// the address is ever echoed into the page.
#[derive(Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

impl Done {
    pub fn notice(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "signed-out" => "You are signed out.",
            "created" => "Created.",
            "saved" => "Saved.",
            "disabled" => "The user is disabled and signed out everywhere.",
            "enabled" => "The user is enabled again.",
            "unlocked" => "The lockout is lifted.",
            "revoked" => "The session is revoked.",
            "revoked-all" => "Every session of the user is revoked.",
            "deleted" => "Deleted.",
            "rotated" => {
                "A new signing key is in use; the old one verifies until its tokens expire."
            }
            _ => return None,
        })
    }
}

/// Links to the previous and next page of a listing; `query` is the rest
/// of the address (already encoded), kept across pages.
pub struct Pager {
    pub number: u64,
    pub pages: u64,
    pub total: u64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub fn new(base: &str, query: &str, page: Page, total: u64) -> Self {
        let pages = total.div_ceil(page.size).max(1);
        let link = |number: u64| {
            let separator = if query.is_empty() { "" } else { "&" };
            format!("{base}?{query}{separator}page={number}")
        };
        Self {
            number: page.number,
            pages,
            total,
            previous: (page.number > 1).then(|| link(page.number - 1)),
            next: (page.number < pages).then(|| link(page.number + 1)),
        }
    }
}

/// A page number from the address; anything unusable is page 1.
pub fn page_number(page: Option<&str>) -> Page {
    let number = page.and_then(|p| p.parse().ok());
    Page::parse(number, None).unwrap_or_default()
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Times as the dashboard shows them: UTC to the minute.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "Are you sure?" before something that cannot be undone. With `typed`,
/// the administrator must type that text (a slug, an email) to go on.
#[derive(Template)]
#[template(path = "dashboard/confirm.html")]
pub struct Confirm {
    pub nav: Nav,
    pub title: String,
    pub message: String,
    pub action: String,
    pub button: &'static str,
    pub back: String,
    pub typed: Option<String>,
    pub error: Option<&'static str>,
}

/// A form with nothing but its CSRF token (a button).
#[derive(Deserialize)]
pub struct NoFields {}

/// The form of a confirmation page.
#[derive(Deserialize)]
pub struct Confirmation {
    #[serde(default)]
    pub confirm: String,
}

impl Confirmation {
    /// Whether the typed text matches (surrounding spaces forgiven).
    pub fn matches(&self, expected: &str) -> bool {
        self.confirm.trim() == expected
    }
}
