//! Refresh-token rotation, reuse detection and concurrency.

use reqwest::StatusCode;
use serde_json::Value;

use reqwest::Response;
use tokio::task::JoinHandle;

use crate::helpers::{TestApp, Tokens, assert_problem, spawn_app, spawn_app_with};

/// Sends `count` refreshes with `token` at once, each from its own task.
fn refresh_at_once(app: &TestApp, token: &str, count: usize) -> Vec<JoinHandle<Response>> {
    (0..count)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/t/default/auth/refresh");
            let token = token.to_owned();
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&serde_json::json!({"refreshToken": token}))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect()
}

/// The new tokens of the refreshes that succeeded; every other one must
/// have been refused as `invalid_token`.
async fn winners(attempts: Vec<JoinHandle<Response>>) -> Vec<Tokens> {
    let mut winners = Vec::new();
    for attempt in attempts {
        let response = attempt.await.unwrap();
        match response.status() {
            StatusCode::OK => winners.push(Tokens::from(&response.json::<Value>().await.unwrap())),
            _ => {
                assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
            }
        }
    }
    winners
}

#[tokio::test]
async fn every_refresh_rotates() {
    let app = spawn_app().await;
    let mut tokens = app.user("default", "rotate@example.com").await;
    let mut seen = vec![tokens.refresh.clone()];
    for _ in 0..3 {
        let response = app.refresh("default", &tokens.refresh).await;
        assert_eq!(response.status(), StatusCode::OK);
        tokens = Tokens::from(&response.json::<Value>().await.unwrap());
        assert!(!seen.contains(&tokens.refresh));
        seen.push(tokens.refresh.clone());
    }
    assert_eq!(
        app.get_bearer("/t/default/me", &tokens.access)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn reusing_a_retired_token_revokes_the_session() {
    // No grace: any reuse counts as theft.
    let app = spawn_app_with(&[("PORTCULLIS_REFRESH_REUSE_GRACE_SECS", "0")]).await;
    let stolen = app.user("default", "victim@example.com").await;
    let response = app.refresh("default", &stolen.refresh).await;
    let current = Tokens::from(&response.json::<Value>().await.unwrap());

    // The thief replays the old token: refused, and the family is burnt.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let replay = app.refresh("default", &stolen.refresh).await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let next = app.refresh("default", &current.refresh).await;
    assert_problem(next, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let me = app.get_bearer("/t/default/me", &current.access).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // Other sessions of the user are untouched.
    let other = app.login("default", "victim@example.com").await;
    assert_eq!(
        app.get_bearer("/t/default/me", &other.access)
            .await
            .status(),
        StatusCode::OK
    );

    // And the theft is on record.
    let root = app.superadmin().await;
    let events: Value = app
        .get_bearer(
            "/t/default/admin/audit-events?type=refresh.reuse_detected",
            &root.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_never_fork_a_session() {
    let app = spawn_app().await;
    let tokens = app.user("default", "race@example.com").await;

    let attempts = refresh_at_once(&app, &tokens.refresh, 16);
    let mut winners = winners(attempts).await;
    assert_eq!(winners.len(), 1, "exactly one refresh may win");
    let survivor = winners.remove(0);

    // The one surviving chain goes on; the session was not revoked.
    let next = app.refresh("default", &survivor.refresh).await;
    assert_eq!(next.status(), StatusCode::OK);
    let next = Tokens::from(&next.json::<Value>().await.unwrap());
    assert_eq!(
        app.get_bearer("/t/default/me", &next.access).await.status(),
        StatusCode::OK
    );

    let sessions: Vec<Value> = app
        .get_bearer("/t/default/me/sessions", &next.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
}

/// On SQLite, refreshes arriving together are written several to a
/// transaction (`store::batch`); each session's race is still its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_many_sessions_each_win_once() {
    let app = spawn_app().await;
    let mut sessions = Vec::new();
    for i in 0..8 {
        sessions.push(app.user("default", &format!("crowd{i}@example.com")).await);
    }
    let ended = app.user("default", "ended@example.com").await;
    let logout = app
        .post_json(
            "/t/default/auth/logout",
            &serde_json::json!({"refreshToken": ended.refresh}),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    // All of them in flight before any answer is read.
    let races: Vec<_> = sessions
        .iter()
        .map(|tokens| refresh_at_once(&app, &tokens.refresh, 4))
        .collect();
    let ended_race = refresh_at_once(&app, &ended.refresh, 4);
    assert!(
        winners(ended_race).await.is_empty(),
        "an ended session gets no token"
    );
    for race in races {
        let winners = winners(race).await;
        assert_eq!(winners.len(), 1, "exactly one refresh per session may win");
        let next = app.refresh("default", &winners[0].refresh).await;
        assert_eq!(next.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn refresh_does_not_extend_the_session() {
    let app = spawn_app().await;
    let tokens = app.user("default", "absolute@example.com").await;
    let first: Vec<Value> = app
        .get_bearer("/t/default/me/sessions", &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = app.refresh("default", &tokens.refresh).await;
    let rotated = Tokens::from(&response.json::<Value>().await.unwrap());
    let after: Vec<Value> = app
        .get_bearer("/t/default/me/sessions", &rotated.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first[0]["expiresAt"], after[0]["expiresAt"]);
    assert_ne!(first[0]["lastUsedAt"], after[0]["lastUsedAt"]);
}

#[tokio::test]
async fn unknown_refresh_tokens_are_invalid() {
    let app = spawn_app().await;
    let response = app.refresh("default", "definitely-not-issued").await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// On SQLite a rotation waits for the writer's turn in a queue
/// (`store::batch`). One whose request timed out meanwhile must not be
/// written: it would retire the only token the client has, and its retry
/// would then look like reuse.
#[tokio::test]
async fn a_refresh_that_timed_out_waiting_for_the_writer_is_not_written() {
    let app = spawn_app_with(&[("PORTCULLIS_REQUEST_TIMEOUT_SECS", "1")]).await;
    if app.services.db.batches().is_none() {
        return; // PostgreSQL: rotations do not queue for a turn
    }
    let tokens = app.user("default", "patient@example.com").await;
    // A transaction holds the turn, as a slow login's would.
    let turn = portcullis::store::begin(&app.services.db).await.unwrap();
    let response = app.refresh("default", &tokens.refresh).await;
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    drop(turn);
    let retry = app.refresh("default", &tokens.refresh).await;
    assert_eq!(retry.status(), StatusCode::OK);
}
