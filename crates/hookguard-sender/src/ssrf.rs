//! The SSRF guard: which addresses a sender may not reach, and a DNS resolver that enforces it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is private, loopback, link-local or otherwise not a public unicast address.
///
/// Refused: unspecified, loopback, RFC 1918 private, shared (100.64/10), link-local, IETF protocol
/// assignments (192.0.0/24), benchmarking (198.18/15), documentation, multicast, broadcast and reserved
/// IPv4; for IPv6 the unspecified and loopback addresses, unique-local (fc00::/7), link-local (fe80::/10),
/// site-local (fec0::/10), multicast, documentation (2001:db8::/32), and any IPv4-mapped, IPv4-compatible or
/// NAT64 (64:ff9b::/96) address whose IPv4 part is refused.
#[must_use]
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed an IPv4 address.
    let embedded = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    if seg[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return is_forbidden_v4(embedded);
    }
    // NAT64 (64:ff9b::/96) and SIIT's IPv4-translated form (::ffff:0:a.b.c.d) also end in one.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || seg[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return is_forbidden_v4(embedded);
    }
    // 6to4 (2002::/16) carries its IPv4 gateway in the next 32 bits.
    if seg[0] == 0x2002 {
        let [a, b] = seg[1].to_be_bytes();
        let [c, d] = seg[2].to_be_bytes();
        return is_forbidden_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_unspecified()
        // Teredo (2001::/32) hides its IPv4 target; local-use NAT64 (64:ff9b:1::/48) reaches private IPv4;
        // 100::/64 is the discard prefix.
        || (seg[0] == 0x2001 && seg[1] == 0)
        || seg[..3] == [0x64, 0xff9b, 1]
        || seg[..4] == [0x100, 0, 0, 0]
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
        || (seg[0] & 0xffc0) == 0xfec0
        || (seg[0] == 0x2001 && seg[1] == 0x0db8)
}

/// A name resolved only to refused addresses.
#[derive(Debug)]
pub(crate) struct BlockedAddress {
    host: String,
}

impl fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` resolves only to private, loopback or link-local addresses",
            self.host
        )
    }
}

impl std::error::Error for BlockedAddress {}

/// Resolves names with the system resolver and drops refused addresses, so the connection can only go to
/// an address that was checked (no window for DNS rebinding between the check and the connect).
#[derive(Debug, Default)]
pub(crate) struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| !is_forbidden(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(BlockedAddress { host }) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Whether an error (or any of its sources) is the guard's refusal.
pub(crate) fn is_blocked(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<BlockedAddress>() {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_private_and_special_addresses() {
        for s in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::10.0.0.1",
            "::ffff:0:7f00:1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::a00:1",
            "100::1",
        ] {
            assert!(is_forbidden(s.parse().unwrap()), "{s} must be refused");
        }
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:0:808:808",
        ] {
            assert!(!is_forbidden(s.parse().unwrap()), "{s} is public");
        }
    }

    #[tokio::test]
    async fn resolver_refuses_localhost() {
        let err = GuardedResolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("refused");
        assert!(is_blocked(&*err), "{err}");
    }
}
