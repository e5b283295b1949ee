//! RFC 9110 §15.5.6: a 405 answer must say in `Allow` which methods the
//! resource does accept. poem's routers know but do not tell, so the list
//! comes from the OpenAPI document, where every API route and hosted page
//! is an operation, plus the few plain routes `app` adds beside it.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

/// Path templates and the `Allow` value each answers with.
pub struct AllowTable(Vec<(Template, HeaderValue)>);

/// A path split into segments: literals, `{name}` parameters (any one
/// segment) and a trailing `*` (any rest, as poem's `*path`).
struct Template(Vec<Segment>);

enum Segment {
    Literal(String),
    Parameter,
    Rest,
}

/// The methods of an OpenAPI path item, in the order `Allow` lists them.
const METHODS: [&str; 6] = ["get", "head", "post", "put", "patch", "delete"];

impl AllowTable {
    /// From the document's `paths`; `get_only` adds routes that answer GET
    /// alone (poem templates: `:name` parameters, a final `*rest`).
    pub fn new(spec: &serde_json::Value, get_only: &[&str]) -> Self {
        let mut routes = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let methods: Vec<&str> = METHODS
                    .into_iter()
                    .filter(|m| item.get(*m).is_some())
                    .collect();
                routes.push((Template::parse(path), allow_value(&methods)));
            }
        }
        for path in get_only {
            routes.push((Template::parse(path), allow_value(&["get"])));
        }
        Self(routes)
    }

    /// As poem routes, a literal segment wins over a parameter: of the
    /// templates that match, the one with the most literals.
    fn allowed(&self, path: &str) -> Option<&HeaderValue> {
        self.0
            .iter()
            .filter(|(template, _)| template.matches(path))
            .max_by_key(|(template, _)| template.literals())
            .map(|(_, allow)| allow)
    }
}

/// poem answers HEAD wherever it answers GET, so both are listed.
fn allow_value(methods: &[&str]) -> HeaderValue {
    let mut listed: Vec<String> = Vec::new();
    for method in METHODS {
        let answered = methods.contains(&method) || (method == "head" && methods.contains(&"get"));
        if answered {
            listed.push(method.to_ascii_uppercase());
        }
    }
    HeaderValue::from_str(&listed.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

impl Template {
    fn parse(path: &str) -> Self {
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.starts_with('*') {
                    Segment::Rest
                } else if s.starts_with(':') || (s.starts_with('{') && s.ends_with('}')) {
                    Segment::Parameter
                } else {
                    Segment::Literal(s.to_owned())
                }
            })
            .collect();
        Self(segments)
    }

    fn literals(&self) -> usize {
        self.0
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/').filter(|s| !s.is_empty());
        for segment in &self.0 {
            match segment {
                Segment::Rest => return true,
                Segment::Parameter => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(literal) => {
                    if parts.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

/// Adds `Allow` to every 405 whose path the table knows.
pub async fn apply<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let table = req.data::<Arc<AllowTable>>().cloned();
    // A `Uri` clone shares its bytes: no allocation on the common path.
    let uri = req.uri().clone();
    let mut response = ep.call(req).await?.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(allow) = table.as_deref().and_then(|t| t.allowed(uri.path()))
    {
        response.headers_mut().insert(header::ALLOW, allow.clone());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> AllowTable {
        let spec = serde_json::json!({
            "paths": {
                "/t/{tenant}/admin/users/{id}": { "get": {}, "patch": {}, "delete": {} },
                "/t/{tenant}/admin/users/search": { "post": {} },
                "/t/{tenant}/auth/login": { "post": {} },
            }
        });
        AllowTable::new(&spec, &["/docs/*path", "/openapi.json"])
    }

    fn allowed(path: &str) -> Option<String> {
        table()
            .allowed(path)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    #[test]
    fn lists_the_methods_of_the_matching_template() {
        assert_eq!(
            allowed("/t/acme/admin/users/42").as_deref(),
            Some("GET, HEAD, PATCH, DELETE")
        );
        assert_eq!(allowed("/t/acme/auth/login").as_deref(), Some("POST"));
        assert_eq!(
            allowed("/t/acme/admin/users/search").as_deref(),
            Some("POST")
        );
        assert_eq!(
            allowed("/docs/swagger-ui.css").as_deref(),
            Some("GET, HEAD")
        );
        assert_eq!(allowed("/openapi.json").as_deref(), Some("GET, HEAD"));
    }

    #[test]
    fn knows_nothing_of_other_paths() {
        assert_eq!(allowed("/t/acme/admin/users"), None);
        assert_eq!(allowed("/t/acme/auth/login/extra"), None);
        assert_eq!(allowed("/dashboard/sign-in"), None);
    }
}
