//! Portcullis: a self-hosted, multi-tenant identity server.
//!
//! Layers, outermost first: `api` (HTTP) → `service` (rules) → `store`
//! (SQL), with `domain` types shared by all. See ARCHITECTURE.md.

pub mod api;
pub mod app;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod error;
pub mod http_server;
pub mod service;
pub mod store;
pub mod telemetry;
