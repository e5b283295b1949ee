//! The audit log, filtered by type, user and time, a page at a time.

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
use poem::web::{Data, Path, Query};
use poem::{Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::forms::{FormErrors, Pager, encode, page_number, time};
use super::{Admin, Failure, Nav, ok};
use crate::domain::{FieldError, UserId};
use crate::service::Services;
use crate::service::audit::AuditKind;
use crate::store::audit::{AuditFilter, AuditRecord};

/// An audit event as a table row; actor and subject link to their users.
pub struct EventRow {
    pub time: String,
    pub kind: String,
    pub actor: Option<UserLink>,
    pub subject: Option<UserLink>,
    pub ip: String,
    pub user_agent: String,
    pub detail: String,
}

impl EventRow {
    pub fn new(slug: &str, event: &AuditRecord) -> Self {
        let link = |id: UserId| UserLink {
            href: format!("/dashboard/t/{slug}/users/{id}"),
            text: short(id),
        };
        Self {
            time: time(event.occurred_at),
            kind: event.kind.clone(),
            actor: event.actor.map(link),
            subject: event.subject.map(link),
            ip: event.ip.clone().unwrap_or_default(),
            user_agent: event.user_agent.clone().unwrap_or_default(),
            detail: event.detail.to_string(),
        }
    }
}

pub struct UserLink {
    pub href: String,
    pub text: String,
}

/// The first block of a UUID: enough to tell users apart on one page.
fn short(id: UserId) -> String {
    id.to_string().chars().take(8).collect()
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
struct AuditPage {
    nav: Nav,
    kinds: Vec<&'static str>,
    query: AuditQuery,
    errors: FormErrors,
    events: Vec<EventRow>,
    pager: Pager,
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    page: Option<String>,
}

impl AuditQuery {
    /// The filter, or what is wrong with it (each beside its field).
    fn filter(&self) -> Result<AuditFilter, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut filter = AuditFilter::default();
        if !self.kind.is_empty() {
            match AuditKind::parse(&self.kind) {
                Some(kind) => filter.kind = Some(kind.as_str().to_owned()),
                None => errors.push(FieldError::new("type", "is not an event type")),
            }
        }
        if !self.user.trim().is_empty() {
            match Uuid::parse_str(self.user.trim()) {
                Ok(id) => filter.user = Some(UserId(id)),
                Err(_) => errors.push(FieldError::new("user", "is not a user id")),
            }
        }
        for (field, text, slot) in [
            ("from", &self.from, &mut filter.from),
            ("to", &self.to, &mut filter.to),
        ] {
            if !text.is_empty() {
                match parse_time(text) {
                    Some(at) => *slot = Some(at),
                    None => errors.push(FieldError::new(field, "is not a date and time")),
                }
            }
        }
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(errors)
        }
    }

    /// The filter as a query string, kept across pages.
    fn encoded(&self) -> String {
        [
            ("type", &self.kind),
            ("user", &self.user),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// A `datetime-local` value (`2026-11-23T14:05`), read as UTC.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text.trim(), format).ok())
        .map(|naive| naive.and_utc())
}

/// `GET /dashboard/t/{tenant}/audit?type=&user=&from=&to=&page=`.
#[handler]
pub async fn list(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, Failure> {
    let tenant = admin.tenant(&services, &slug).await?;
    let page = page_number(query.page.as_deref());
    let base = format!("/dashboard/t/{slug}/audit");
    let (events, pager, errors) = match query.filter() {
        Ok(filter) => {
            let (events, total) = services.admin.audit_events(&tenant, &filter, page).await?;
            let pager = Pager::new(&base, &query.encoded(), page, total);
            (events, pager, FormErrors::default())
        }
        Err(errors) => (
            Vec::new(),
            Pager::new(&base, "", page, 0),
            FormErrors::new(errors, &["type", "user", "from", "to"]),
        ),
    };
    ok(&AuditPage {
        nav: admin.nav(&tenant, "audit"),
        kinds: AuditKind::ALL.iter().map(|k| k.as_str()).collect(),
        events: events.iter().map(|e| EventRow::new(&slug, e)).collect(),
        query,
        errors,
        pager,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_the_browser() {
        assert!(parse_time("2026-11-23T14:05").is_some());
        assert!(parse_time("2026-11-23T14:05:09").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
