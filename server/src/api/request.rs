//! What handlers take from a request besides their parameters: the client
//! (IP, user agent), the refresh cookie, and the Bearer token.

use poem::Request;
use poem::http::header;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use super::client_ip::ClientIp;
use crate::service::auth::ClientInfo;

/// An access token from `Authorization: Bearer ...`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(pub Bearer);

impl BearerAuth {
    pub fn token(&self) -> &str {
        &self.0.token
    }
}

/// The refresh cookie's name; scoped by its `Path` to one tenant.
pub const REFRESH_COOKIE: &str = "portcullis_refresh";

/// The client: its address as [`super::client_ip`] resolved it, and its
/// user agent.
pub fn client_info(req: &Request) -> ClientInfo {
    ClientInfo::new(
        req.extensions().get::<ClientIp>().map(|c| c.0),
        req.headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The refresh token from the cookie, if the request carries one.
pub fn refresh_cookie(req: &Request) -> Option<String> {
    cookie(req, REFRESH_COOKIE)
}

/// The value of the cookie `name`, if the request carries a non-empty one.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for the refresh cookie (API.md: HttpOnly, Secure,
/// SameSite=Strict, Path=/t/{tenant}/auth); `None` clears it.
pub fn refresh_set_cookie(tenant: &str, token: Option<(&str, u32)>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let (value, max_age) = token.unwrap_or(("", 0));
    format!(
        "{REFRESH_COOKIE}={value}; Path=/t/{tenant}/auth; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_refresh_cookie_among_others() {
        let req = Request::builder()
            .header(header::COOKIE, "a=1; portcullis_refresh=abc; b=2")
            .finish();
        assert_eq!(refresh_cookie(&req).as_deref(), Some("abc"));
        let req = Request::builder().header(header::COOKIE, "a=1").finish();
        assert_eq!(refresh_cookie(&req), None);
    }

    #[test]
    fn cookie_attributes() {
        let set = refresh_set_cookie("default", Some(("tok", 60)), true);
        assert_eq!(
            set,
            "portcullis_refresh=tok; Path=/t/default/auth; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let clear = refresh_set_cookie("default", None, false);
        assert!(clear.contains("Max-Age=0") && !clear.contains("Secure"));
    }
}
