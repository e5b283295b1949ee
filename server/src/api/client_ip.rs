//! Who the client is. The socket peer, unless the peer is one of
//! `PORTCULLIS_TRUSTED_PROXIES`: then the right-most `X-Forwarded-For`
//! address that is not a trusted proxy (each proxy appends the address it
//! saw, so everything left of the last untrusted hop is client-chosen and
//! may be forged). Resolved once per request, before any limit is checked.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::service::Services;

/// The resolved client address, kept in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

pub async fn resolve<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map(|addr| addr.ip().to_canonical());
    if let Some(peer) = peer {
        let trusted = req
            .data::<Arc<Services>>()
            .map_or(&[][..], |s| &s.config.trusted_proxies[..]);
        // Read lazily: from an untrusted peer the header is never looked at.
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let ip = client_ip(peer, forwarded, trusted);
        req.extensions_mut().insert(ClientIp(ip));
    }
    Ok(ep.call(req).await?.into_response())
}

/// Walks `X-Forwarded-For` from the right while the hop is trusted. An
/// unparsable entry stops the walk at the last trusted hop: the header
/// was not written by a proxy we know.
fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if !is_trusted(&client) {
        return client;
    }
    let hops = forwarded
        .rev()
        .flat_map(|value| value.rsplit(','))
        .map(str::trim);
    for hop in hops {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let got = client_ip(
            ip("203.0.113.9"),
            ["1.2.3.4"].into_iter(),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(got, ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["1.2.3.4"].into_iter(), &[]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_rightmost_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxies appended the rest.
        let got = client_ip(
            ip("10.0.0.2"),
            ["6.6.6.6, 198.51.100.7", "10.0.0.1"].into_iter(),
            &trusted,
        );
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn only_proxies_or_garbage_leave_the_last_trusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["10.0.0.1"].into_iter(), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                ["198.51.100.7, bogus"].into_iter(),
                &trusted
            ),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), [].into_iter(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn mapped_ipv6_counts_as_ipv4() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                ["::ffff:198.51.100.7"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
    }
}
