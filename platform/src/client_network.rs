//! Which client an address stands for when clients are counted (sign-in attempts, connections per
//! address): an IPv4 address itself, also when it came mapped into IPv6; an IPv6 address by its
//! /64 network. One host is commonly given a whole /64, and counting each of its addresses alone
//! would give it 2^64 allowances.

use std::net::{IpAddr, Ipv6Addr};

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
