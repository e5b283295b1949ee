//! sea-orm entities: one module per table. Only the server's `store`
//! module uses them; migrations declare their own identifiers.

pub mod audit_event;
pub mod dashboard_session;
pub mod login_throttle;
pub mod refresh_token;
pub mod session;
pub mod signing_key;
pub mod tenant;
pub mod user;
pub mod user_token;
