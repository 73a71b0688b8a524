//! `ip("...")` matching as Loki does it: a pattern is a single address, a
//! CIDR prefix or a range `a-b`; a line matches if any IP-looking run of
//! characters in it parses as an address inside the pattern.

use std::net::IpAddr;

#[derive(Clone, Debug)]
pub(crate) enum IpMatcher {
    Single(IpAddr),
    Prefix(IpAddr, u8),
    Range(IpAddr, IpAddr),
}

fn to_u128(ip: &IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v) => (false, u32::from(*v) as u128),
        IpAddr::V6(v) => (true, u128::from(*v)),
    }
}

impl IpMatcher {
    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        let invalid = || format!("ip: invalid pattern: {}", balsa_logql::units::go_quote(pattern));
        if let Ok(ip) = pattern.parse::<IpAddr>() {
            return Ok(IpMatcher::Single(ip));
        }
        if let Some((addr, bits)) = pattern.split_once('/') {
            let ip: IpAddr = addr.parse().map_err(|_| invalid())?;
            let bits: u8 = bits.parse().map_err(|_| invalid())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(invalid());
            }
            return Ok(IpMatcher::Prefix(ip, bits));
        }
        if let Some((a, b)) = pattern.split_once('-') {
            let a: IpAddr = a.parse().map_err(|_| invalid())?;
            let b: IpAddr = b.parse().map_err(|_| invalid())?;
            let (fa, va) = to_u128(&a);
            let (fb, vb) = to_u128(&b);
            if fa != fb || va > vb {
                return Err(invalid());
            }
            return Ok(IpMatcher::Range(a, b));
        }
        Err(invalid())
    }

    pub(crate) fn contains(&self, ip: &IpAddr) -> bool {
        let (f, v) = to_u128(ip);
        match self {
            IpMatcher::Single(p) => p == ip,
            IpMatcher::Prefix(p, bits) => {
                let (pf, pv) = to_u128(p);
                if pf != f {
                    return false;
                }
                let width = if f { 128 } else { 32 };
                let shift = width - u32::from(*bits);
                if shift >= 128 {
                    return true;
                }
                (pv >> shift) == (v >> shift)
            }
            IpMatcher::Range(a, b) => {
                let (af, av) = to_u128(a);
                let (_, bv) = to_u128(b);
                af == f && av <= v && v <= bv
            }
        }
    }

    /// Whether any IP address found in `line` is matched.
    pub(crate) fn matches_in(&self, line: &[u8]) -> bool {
        const V4: &[u8] = b"0123456789.";
        const V6: &[u8] = b"0123456789abcdefABCDEF:.";
        let n = line.len();
        let hex = |b: u8| b.is_ascii_hexdigit();
        let span = |start: usize, set: &[u8]| line[start..].iter().take_while(|b| set.contains(b)).count();
        let try_at = |start: usize, len: usize| {
            std::str::from_utf8(&line[start..start + len])
                .ok()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| self.contains(&ip))
        };
        let mut i = 0;
        while i < n {
            if i + 3 < n
                && line[i].is_ascii_digit()
                && (line[i + 1] == b'.' || line[i + 2] == b'.' || line[i + 3] == b'.')
            {
                let len = span(i, V4);
                if try_at(i, len) {
                    return true;
                }
                i += len + 1;
                continue;
            }
            if i + 4 < n {
                let p = &line[i..i + 5];
                let hint = (p[0] == b':' && p[1] == b':' && hex(p[2]))
                    || (hex(p[0]) && p[1] == b':')
                    || (hex(p[0]) && hex(p[1]) && p[2] == b':')
                    || (hex(p[0]) && hex(p[1]) && hex(p[2]) && p[3] == b':')
                    || (hex(p[0]) && hex(p[1]) && hex(p[2]) && hex(p[3]) && p[4] == b':');
                if hint {
                    let len = span(i, V6);
                    if try_at(i, len) {
                        return true;
                    }
                    i += len + 1;
                    continue;
                }
            }
            i += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let m = IpMatcher::parse("192.168.0.0/24").unwrap();
        assert!(m.matches_in(b"from 192.168.0.7 port 22"));
        assert!(!m.matches_in(b"from 192.168.1.7 port 22"));
        let m = IpMatcher::parse("10.0.0.1-10.0.0.9").unwrap();
        assert!(m.matches_in(b"x=10.0.0.5"));
        assert!(!m.matches_in(b"x=10.0.0.10"));
        let m = IpMatcher::parse("::1").unwrap();
        assert!(m.matches_in(b"addr ::1 ok"));
        assert!(IpMatcher::parse("nope").is_err());
        assert!(IpMatcher::parse("0.0.0.0/0").unwrap().contains(&"1.2.3.4".parse().unwrap()));
    }
}
