//! The client's address, as throttling, security events, sessions and audit events see it.
//!
//! By default that is the socket peer. Behind reverse proxies the operator names them
//! (`serve --behind-proxy CIDR…`); only when the peer is one of them is `X-Forwarded-For`
//! read, from the right (the hop our proxy appended) leftwards, skipping trusted proxies, and
//! the first address that is not one is the client. Anyone else's `X-Forwarded-For` is ignored,
//! so a client cannot pick the address its guesses are counted against.

use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address range such as `10.0.0.0/8`, `127.0.0.1` (one address) or `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network = IpAddr::from_str(addr)
            .map_err(|_| format!("`{text}` is not an address or CIDR range"))?
            .to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `bits` bits of two addresses agree.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let mut left = usize::from(bits);
    for (x, y) in a.iter().zip(b) {
        if left == 0 {
            return true;
        }
        let take = left.min(8);
        // `take` is 1..=8, so the shift stays below 8.
        let mask = 0xffu8 << (8 - take);
        if x & mask != y & mask {
            return false;
        }
        left -= take;
    }
    true
}

/// The reverse proxies whose `X-Forwarded-For` is believed (none by default).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(ranges: Vec<Cidr>) -> Self {
        Self(ranges)
    }

    /// Ranges separated by commas and/or whitespace, as `--behind-proxy` and
    /// `LABLEDGER_BEHIND_PROXY` take them.
    pub fn parse_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for item in items {
            for part in item
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
            {
                ranges.push(part.parse()?);
            }
        }
        Ok(Self(ranges))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client behind `peer`: the right-most `X-Forwarded-For` address that is not a trusted
    /// proxy, when `peer` is one; else `peer`. A hop that is not an address ends the walk at the
    /// proxy that reported it.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    IpAddr::from_str(hop)
        .ok()
        .or_else(|| SocketAddr::from_str(hop).ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client address of a request, resolved once by [`resolve_client`].
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// Middleware: stores the request's [`ClientAddr`] for the extractors.
pub async fn resolve_client(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let ip = state
            .config()
            .trusted_proxies
            .client_ip(peer, req.headers());
        tracing::Span::current().record("client_ip", tracing::field::display(ip));
        req.extensions_mut().insert(ClientAddr(ip));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn ranges_parse_and_match() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")));
        assert!(one.contains(ip("::ffff:127.0.0.1")), "IPv4-mapped peers");
        assert!(!one.contains(ip("127.0.0.2")));
        let odd: Cidr = "192.168.0.0/23".parse().unwrap();
        assert!(odd.contains(ip("192.168.1.255")));
        assert!(!odd.contains(ip("192.168.2.0")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let list = TrustedProxies::parse_list(["10.0.0.0/8, 127.0.0.1/32", "fd00::/8"]).unwrap();
        assert_eq!(list.0.len(), 3);
        assert!(TrustedProxies::parse_list(["10.0.0.0/8 bogus"]).is_err());
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let headers = xff(&["203.0.113.9"]);
        assert_eq!(none.client_ip(ip("127.0.0.1"), &headers), ip("127.0.0.1"));

        let proxies = TrustedProxies::parse_list(["127.0.0.1/32 10.0.0.0/8"]).unwrap();
        // An untrusted peer's header is ignored.
        assert_eq!(
            proxies.client_ip(ip("198.51.100.7"), &headers),
            ip("198.51.100.7")
        );
        // A trusted peer: the right-most address that is not a proxy of ours.
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), &xff(&["1.1.1.1, 203.0.113.9, 10.0.0.5"])),
            ip("203.0.113.9"),
            "the client cannot choose its address by prepending one"
        );
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), &xff(&["1.1.1.1", "203.0.113.9:4711"])),
            ip("203.0.113.9"),
            "several headers in order; ports dropped"
        );
        // Only proxies: the left-most; garbage ends the walk at the proxy that sent it.
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), &xff(&["10.0.0.9, 10.0.0.5"])),
            ip("10.0.0.9")
        );
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), &xff(&["203.0.113.9, junk"])),
            ip("127.0.0.1")
        );
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }
}
