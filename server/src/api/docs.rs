//! Swagger UI at `/docs/`, from utoipa-swagger-ui's vendored files (no CDN,
//! no inline script), pointed at `/openapi.json`.

use std::sync::Arc;

use poem::error::NotFoundError;
use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Response, handler};
use utoipa_swagger_ui::Config;

#[handler]
pub fn swagger_ui(Path(path): Path<String>) -> poem::Result<Response> {
    serve(&path)
}

#[handler]
pub fn swagger_index() -> poem::Result<Response> {
    serve("")
}

fn serve(path: &str) -> poem::Result<Response> {
    // Persisting the authorization keeps the Bearer token across reloads.
    let config = Arc::new(Config::from("/openapi.json").persist_authorization(true));
    match utoipa_swagger_ui::serve(path, config) {
        Ok(Some(file)) => {
            let mut response = Response::builder()
                .content_type(file.content_type)
                .body(file.bytes.into_owned());
            if file.gzpipped
                && let Ok(value) = "gzip".parse()
            {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, value);
            }
            Ok(response)
        }
        Ok(None) => Err(NotFoundError.into()),
        Err(e) => {
            tracing::error!(error = %e, "swagger ui");
            Err(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}
