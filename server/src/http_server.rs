//! The accept loop: poem's endpoint on hyper connections we configure
//! ourselves. poem's own `Server` does not expose the settings that keep
//! slow or greedy clients from holding the process: how long a client may
//! take to send its request head (slowloris), how large the head may be,
//! how many connections may be open at once. Graceful shutdown lets
//! in-flight requests finish, up to a grace period.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, IntoResponse};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// A client must send its whole request head within this time (or the
/// request timeout, if shorter) of starting it; hyper closes the
/// connection otherwise.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head, HTTP/1 buffer and HTTP/2 header list (431 beyond).
const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Connections open at once; more wait in the kernel's accept backlog.
const MAX_CONNECTIONS: usize = 10_000;
/// HTTP/2 pings an idle connection this often and drops it when the ping
/// goes unanswered for as long.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Serves `endpoint` on `listener` until `shutdown` resolves, then waits
/// up to `grace` for open requests to finish.
pub async fn serve(
    listener: TcpListener,
    endpoint: impl Endpoint + 'static,
    shutdown: impl Future<Output = ()> + Send,
    request_timeout: Duration,
    grace: Duration,
) {
    let endpoint = Arc::new(endpoint);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT.min(request_timeout))
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX))
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting, so a connection flood
        // queues in the kernel instead of in our memory.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Usually out of file descriptors: back off rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let endpoint = Arc::clone(&endpoint);
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let endpoint = Arc::clone(&endpoint);
            let request = poem::Request::from((
                req,
                LocalAddr(Addr::SocketAddr(local)),
                RemoteAddr(Addr::SocketAddr(peer)),
                Scheme::HTTP,
            ));
            async move {
                let response = match endpoint.call(request).await {
                    Ok(response) => response.into_response(),
                    Err(err) => err.into_response(),
                };
                Ok::<_, Infallible>(hyper::Response::<BoxBody<Bytes, std::io::Error>>::from(
                    response,
                ))
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("requests still running after the shutdown grace period");
        }
    }
}
