//! Integration tests: each starts the real server on a random port against
//! a fresh database and talks HTTP to it. SQLite by default; set
//! `PORTCULLIS_TEST_DATABASE_URL=postgres://...` to run the same tests on
//! PostgreSQL (a fresh schema per test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod bearer;
mod change_password;
mod dashboard;
mod errors;
mod flows;
mod helpers;
mod isolation;
mod mail;
mod pages;
mod password_policy;
mod password_reset;
mod platform;
mod protection;
mod refresh;
mod smtp;
mod startup;
mod verification;
mod wellknown;
