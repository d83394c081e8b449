//! Which client an address stands for when clients are counted (sign-in attempts, connections per
//! address): an IPv4 address itself, also when it came mapped into IPv6; an IPv6 address by its
//! /64 network. One host is commonly given a whole /64, and counting each of its addresses alone
//! would give it 2^64 allowances.
//!
//! Behind a proxy, every request comes from the proxy: `client_address` takes the client's
//! address from `X-Forwarded-For` when, and only when, the connection comes from a proxy the
//! operator trusts (`server.trusted_proxies`), as nginx's `real_ip_recursive` does. A client's own
//! `X-Forwarded-For` is never believed.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The client a request stands for: `peer` (the connection's address), or, when `peer` is a
/// trusted proxy, the rightmost address in `X-Forwarded-For` that is not itself a trusted proxy
/// (each proxy appends the address it saw, so whatever the client wrote stays on the left). A
/// header that cannot be read leaves the proxy's own address.
pub fn client_address(
    peer: IpAddr,
    forwarded_for: &warp::http::HeaderMap,
    trusted_proxies: &[IpNet],
) -> IpAddr {
    let trusted = |address: &IpAddr| is_trusted_proxy(*address, trusted_proxies);
    if !trusted(&peer) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in forwarded_for.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        hops.extend(text.split(',').map(str::trim));
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(address) = hop.parse::<IpAddr>() else {
            return client;
        };
        client = address;
        if !trusted(&address) {
            break;
        }
    }
    client
}

/// Whether `address` (an IPv4-mapped IPv6 address as its IPv4 one) is one of `trusted_proxies`.
pub fn is_trusted_proxy(address: IpAddr, trusted_proxies: &[IpNet]) -> bool {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    trusted_proxies.iter().any(|net| net.contains(&address))
}

/// The address a client is counted under: an IPv4 address, or an IPv6 /64 network (its first
/// address).
pub fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// `client_network` as text: `192.0.2.7`, `2001:db8:1:2::/64`.
pub fn client_network_text(address: IpAddr) -> String {
    match client_network(address) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(network) => format!("{network}/64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_address_a_trusted_proxy_saw() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let headers = |values: &[&str]| {
            let mut map = warp::http::HeaderMap::new();
            for v in values {
                map.append("x-forwarded-for", v.parse().unwrap());
            }
            map
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not from a trusted proxy: the header is the client's own words.
        assert_eq!(
            client_address(ip("203.0.113.9"), &headers(&["198.51.100.1"]), &trusted),
            ip("203.0.113.9")
        );
        // From the proxy: the address it appended; what the client wrote before it is ignored.
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                &headers(&["6.6.6.6, 198.51.100.1"]),
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Through two trusted proxies, over two headers.
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                &headers(&["6.6.6.6, 198.51.100.1", "10.0.0.7"]),
                &trusted
            ),
            ip("198.51.100.1")
        );
        // IPv4 mapped into IPv6, and IPv6 proxies.
        assert_eq!(
            client_address(ip("::ffff:10.0.0.2"), &headers(&["198.51.100.1"]), &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(ip("::1"), &headers(&["2001:db8::7"]), &trusted),
            ip("2001:db8::7")
        );
        // Nothing said, or something unreadable at the right end: the proxy's own address.
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers(&[]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                &headers(&["198.51.100.1, unknown"]),
                &trusted
            ),
            ip("10.0.0.2")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers(&["10.1.1.1"]), &trusted),
            ip("10.1.1.1")
        );
        // No proxies trusted: always the peer.
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers(&["198.51.100.1"]), &[]),
            ip("10.0.0.2")
        );
    }

    fn network(text: &str) -> String {
        client_network_text(text.parse().unwrap())
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(network("192.0.2.7"), "192.0.2.7");
        assert_eq!(network("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(network("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(network("2001:db8:1:2:ffff::9"), "2001:db8:1:2::/64");
        assert_ne!(network("2001:db8:1:3::1"), "2001:db8:1:2::/64");
    }
}
