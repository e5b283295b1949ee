//! A tenant's overview, and the platform's pages (superadmins): the
//! tenant list, creating, settings, deleting, signing keys.

use std::sync::Arc;

use askama::Template;
use chrono::Utc;
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Response, handler};
use serde::Deserialize;

use super::audit::EventRow;
use super::forms::{Confirm, Confirmation, Done, FormErrors, NoFields, Pager, page_number, time};
use super::settings_form::{self, Group};
use super::{Admin, Failure, Nav, Submitted, ok, see_other};
use crate::api::pages::render;
use crate::domain::{FieldError, Page, TenantSettings};
use crate::error::Error;
use crate::service::Services;
use crate::service::dashboard::Overview;
use crate::service::platform::TenantChanges;

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    nav: Nav,
    tenants: Option<u64>,
    overview: Overview,
    events: Vec<EventRow>,
}

/// `GET /dashboard/t/{tenant}`.
#[handler]
pub async fn overview(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
) -> Result<Response, Failure> {
    let tenant = admin.tenant(&services, &slug).await?;
    let tenants = if admin.session.actor.superadmin {
        let (_, total) = services
            .platform
            .list_tenants(Page { number: 1, size: 1 })
            .await?;
        Some(total)
    } else {
        None
    };
    let figures = services.overview(&tenant).await?;
    let events = figures
        .latest
        .iter()
        .map(|e| EventRow::new(&slug, e))
        .collect();
    ok(&OverviewPage {
        nav: admin.nav(&tenant, "overview"),
        tenants,
        overview: figures,
        events,
    })
}

struct TenantRow {
    slug: String,
    name: String,
    created: String,
}

#[derive(Template)]
#[template(path = "dashboard/tenants.html")]
struct TenantsPage {
    nav: Nav,
    tenants: Vec<TenantRow>,
    pager: Pager,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    page: Option<String>,
}

/// `GET /dashboard/tenants`.
#[handler]
pub async fn list(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Query(query): Query<ListQuery>,
    Query(done): Query<Done>,
) -> Result<Response, Failure> {
    admin.require_superadmin()?;
    let page = page_number(query.page.as_deref());
    let (tenants, total) = services.platform.list_tenants(page).await?;
    ok(&TenantsPage {
        nav: admin.nav(&admin.session.home, "tenants"),
        tenants: tenants
            .into_iter()
            .map(|t| TenantRow {
                slug: t.slug.to_string(),
                name: t.name,
                created: time(t.created_at),
            })
            .collect(),
        pager: Pager::new("/dashboard/tenants", "", page, total),
        notice: done.notice(),
    })
}

#[derive(Template)]
#[template(path = "dashboard/tenant-new.html")]
struct NewTenantPage {
    nav: Nav,
    slug: String,
    name: String,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct NewTenantForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
}

/// `GET /dashboard/tenants/new`.
#[handler]
pub fn new_form(admin: Admin) -> Result<Response, Failure> {
    admin.require_superadmin()?;
    ok(&NewTenantPage {
        nav: admin.nav(&admin.session.home, "tenants"),
        slug: String::new(),
        name: String::new(),
        errors: FormErrors::default(),
    })
}

/// `POST /dashboard/tenants/new`: created with default settings, then
/// on to its settings.
#[handler]
pub async fn create(
    services: Data<&Arc<Services>>,
    submitted: Submitted<NewTenantForm>,
) -> Result<Response, Failure> {
    let Submitted { admin, form } = submitted;
    admin.require_superadmin()?;
    let errors = match services
        .platform
        .create_tenant(&admin.session.actor, &form.slug, &form.name, |_| {})
        .await
    {
        Ok(tenant) => {
            return Ok(see_other(&format!(
                "/dashboard/t/{}/settings?done=created",
                tenant.slug
            )));
        }
        Err(Error::Validation(errors)) => errors,
        Err(Error::TenantExists) => vec![FieldError::new("slug", "is already taken")],
        Err(e) => return Err(e.into()),
    };
    Ok(render(
        StatusCode::BAD_REQUEST,
        &NewTenantPage {
            nav: admin.nav(&admin.session.home, "tenants"),
            slug: form.slug,
            name: form.name,
            errors: FormErrors::new(errors, &["slug", "name"]),
        },
    ))
}

#[derive(Template)]
#[template(path = "dashboard/tenant-settings.html")]
struct SettingsPage {
    nav: Nav,
    name: String,
    name_errors: Vec<String>,
    groups: Vec<Group>,
    /// Errors that name no field of the form.
    errors: Vec<String>,
    notice: Option<&'static str>,
    system: bool,
}

/// `GET /dashboard/t/{tenant}/settings`.
#[handler]
pub async fn edit_settings(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, Failure> {
    admin.require_superadmin()?;
    let tenant = admin.tenant(&services, &slug).await?;
    ok(&SettingsPage {
        nav: admin.nav(&tenant, "settings"),
        name: tenant.tenant.name.clone(),
        name_errors: Vec::new(),
        groups: settings_form::groups(tenant.settings(), None, &mut Vec::new()),
        errors: Vec::new(),
        notice: done.notice(),
        system: tenant.tenant.slug.is_system(),
    })
}

/// `POST /dashboard/t/{tenant}/settings`: the name and every setting,
/// validated as the API validates a PATCH.
#[handler]
pub async fn update_settings(
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
    submitted: Submitted<settings_form::Submitted>,
) -> Result<Response, Failure> {
    let Submitted { admin, form } = submitted;
    admin.require_superadmin()?;
    let tenant = admin.tenant(&services, &slug).await?;
    let name = form.get("name").cloned().unwrap_or_default();
    let errors = match settings_form::parse(tenant.settings(), &form) {
        Err(errors) => errors,
        Ok(settings) => {
            let changes = TenantChanges {
                name: Some(name.clone()),
                settings: Some(move |s: &mut TenantSettings| *s = settings),
            };
            match services
                .platform
                .update_tenant(&admin.session.actor, &slug, changes)
                .await
            {
                Ok(_) => {
                    return Ok(see_other(&format!(
                        "/dashboard/t/{slug}/settings?done=saved"
                    )));
                }
                Err(Error::Validation(errors)) => settings_form::errors(errors),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let (name_errors, mut errors): (Vec<_>, Vec<_>) =
        errors.into_iter().partition(|(field, _)| field == "name");
    let groups = settings_form::groups(tenant.settings(), Some(&form), &mut errors);
    Ok(render(
        StatusCode::BAD_REQUEST,
        &SettingsPage {
            nav: admin.nav(&tenant, "settings"),
            name,
            name_errors: name_errors.into_iter().map(|(_, m)| m).collect(),
            groups,
            errors: errors
                .into_iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect(),
            notice: None,
            system: tenant.tenant.slug.is_system(),
        },
    ))
}

/// `GET /dashboard/t/{tenant}/delete`: type the slug to confirm.
#[handler]
pub async fn confirm_delete(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
) -> Result<Response, Failure> {
    admin.require_superadmin()?;
    let tenant = admin.tenant(&services, &slug).await?;
    ok(&delete_page(&admin, &tenant, None))
}

fn delete_page(
    admin: &Admin,
    tenant: &crate::service::tenants::TenantContext,
    error: Option<&'static str>,
) -> Confirm {
    let slug = tenant.tenant.slug.to_string();
    Confirm {
        nav: admin.nav(tenant, "settings"),
        title: format!("Delete tenant {slug}"),
        message: "This deletes the tenant with all its users, sessions, signing keys and \
                  audit events. It cannot be undone."
            .into(),
        action: format!("/dashboard/t/{slug}/delete"),
        button: "Delete this tenant",
        back: format!("/dashboard/t/{slug}/settings"),
        typed: Some(slug),
        error,
    }
}

/// `POST /dashboard/t/{tenant}/delete`.
#[handler]
pub async fn delete(
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
    submitted: Submitted<Confirmation>,
) -> Result<Response, Failure> {
    let Submitted { admin, form } = submitted;
    admin.require_superadmin()?;
    let tenant = admin.tenant(&services, &slug).await?;
    if !form.matches(tenant.tenant.slug.as_str()) {
        return Ok(render(
            StatusCode::BAD_REQUEST,
            &delete_page(&admin, &tenant, Some("Type the tenant's name exactly.")),
        ));
    }
    services
        .platform
        .delete_tenant(&admin.session.actor, &slug)
        .await?;
    Ok(see_other("/dashboard/tenants?done=deleted"))
}

struct KeyRow {
    kid: String,
    algorithm: String,
    state: &'static str,
    created: String,
    retires: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    nav: Nav,
    keys: Vec<KeyRow>,
    notice: Option<&'static str>,
}

/// `GET /dashboard/t/{tenant}/keys`.
#[handler]
pub async fn keys(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, Failure> {
    admin.require_superadmin()?;
    let tenant = admin.tenant(&services, &slug).await?;
    let now = Utc::now();
    let stored = services.platform.list_keys(&slug).await?;
    ok(&KeysPage {
        nav: admin.nav(&tenant, "keys"),
        keys: stored
            .into_iter()
            .map(|k| KeyRow {
                state: k.state(now),
                created: time(k.created_at),
                retires: k.retire_at.map(time),
                kid: k.kid,
                algorithm: k.algorithm,
            })
            .collect(),
        notice: done.notice(),
    })
}

/// `GET /dashboard/t/{tenant}/keys/rotate`.
#[handler]
pub async fn confirm_rotate(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
) -> Result<Response, Failure> {
    admin.require_superadmin()?;
    let tenant = admin.tenant(&services, &slug).await?;
    ok(&Confirm {
        nav: admin.nav(&tenant, "keys"),
        title: format!("Rotate the signing key of {slug}"),
        message: "A new key signs from now on. The current key keeps verifying the tokens \
                  it signed until they expire, then leaves the JWKS."
            .into(),
        action: format!("/dashboard/t/{slug}/keys/rotate"),
        button: "Rotate the key",
        back: format!("/dashboard/t/{slug}/keys"),
        typed: None,
        error: None,
    })
}

/// `POST /dashboard/t/{tenant}/keys/rotate`.
#[handler]
pub async fn rotate(
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
    submitted: Submitted<NoFields>,
) -> Result<Response, Failure> {
    let admin = submitted.admin;
    admin.require_superadmin()?;
    admin.tenant(&services, &slug).await?;
    services
        .platform
        .rotate_key(&admin.session.actor, &slug)
        .await?;
    Ok(see_other(&format!("/dashboard/t/{slug}/keys?done=rotated")))
}
