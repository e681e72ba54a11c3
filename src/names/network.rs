//! Network allow lists: Daytona's `networkAllowList`, a comma-separated list of IPv4 networks in
//! CIDR form (`10.0.0.0/8,192.168.1.0/24`). `serve`'s create and `/network-settings` routes and
//! the `daytona` provider read and write them with [`AllowList`].

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{Violation, violation};

/// One IPv4 network: an address and how many of its leading bits name the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv4Network {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl fmt::Display for Ipv4Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// A non-empty list of IPv4 networks a sandbox may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AllowList(Vec<Ipv4Network>);

impl AllowList {
    /// Reads Daytona's comma-separated form; `None` for a list with nothing in it (Daytona
    /// reads an empty list as no list). The violation underlines the entry that is wrong.
    pub(crate) fn parse(text: &str) -> Result<Option<AllowList>, Violation> {
        let mut networks = Vec::new();
        let mut start = 0;
        for entry in text.split(',') {
            let range = start..start + entry.len();
            start = range.end + 1;
            let trimmed = entry.trim();
            if trimmed.is_empty() {
                continue;
            }
            networks.push(parse_network(trimmed).map_err(|reason| violation(reason, range))?);
        }
        Ok((!networks.is_empty()).then_some(AllowList(networks)))
    }

    pub fn networks(&self) -> &[Ipv4Network] {
        &self.0
    }

    /// Whether `address` is in one of the networks (an IPv6 address never is).
    pub(crate) fn contains(&self, address: std::net::IpAddr) -> bool {
        let std::net::IpAddr::V4(address) = address else {
            return false;
        };
        self.0.iter().any(|network| {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(network.prefix))
                .unwrap_or(0);
            u32::from(address) & mask == u32::from(network.address) & mask
        })
    }
}

/// Daytona's form, for callers outside the crate: an empty list is an error here.
impl std::str::FromStr for AllowList {
    type Err = String;

    fn from_str(text: &str) -> Result<AllowList, String> {
        AllowList::parse(text)
            .map_err(|violation| violation.reason)?
            .ok_or_else(|| "the allow list is empty".to_string())
    }
}

/// Daytona's form: networks joined by commas.
impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, network) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{network}")?;
        }
        Ok(())
    }
}

fn parse_network(text: &str) -> Result<Ipv4Network, String> {
    let Some((address, prefix)) = text.split_once('/') else {
        return Err(format!(
            "`{text}` is not a network in CIDR form (an IPv4 address, `/` and a prefix length, as in `10.0.0.0/8`)"
        ));
    };
    let address: Ipv4Addr = address
        .parse()
        .map_err(|_| format!("`{address}` in `{text}` is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|prefix| *prefix <= 32)
        .ok_or_else(|| format!("`/{prefix}` in `{text}` is not a prefix length from 0 to 32"))?;
    Ok(Ipv4Network { address, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daytonas_comma_separated_form_reads_and_writes_back() {
        let list = AllowList::parse("192.168.1.0/16, 10.0.0.0/24,8.8.8.8/32")
            .unwrap()
            .unwrap();
        assert_eq!(list.networks().len(), 3);
        assert_eq!(list.to_string(), "192.168.1.0/16,10.0.0.0/24,8.8.8.8/32");
        assert_eq!(AllowList::parse(" , ").unwrap(), None);
    }

    #[test]
    fn an_address_is_in_a_network_by_its_leading_bits() {
        let list = AllowList::parse("10.1.0.0/16,8.8.8.8/32,0.0.0.0/0")
            .unwrap()
            .unwrap();
        let narrow = AllowList::parse("10.1.0.0/16,8.8.8.8/32").unwrap().unwrap();
        for (address, inside) in [
            ("10.1.255.3", true),
            ("10.2.0.1", false),
            ("8.8.8.8", true),
            ("8.8.8.9", false),
            ("::1", false),
        ] {
            let address = address.parse().unwrap();
            assert_eq!(narrow.contains(address), inside, "{address}");
        }
        assert!(
            list.contains("192.0.2.1".parse().unwrap()),
            "/0 holds every IPv4 address"
        );
    }

    #[test]
    fn the_entry_that_is_wrong_is_underlined() {
        for (text, underlined) in [
            ("10.0.0.0/8,example.com", "example.com"),
            ("10.0.0.0/33", "10.0.0.0/33"),
            ("10.0.0.0/8, 10.0.0/8", " 10.0.0/8"),
            ("::1/128", "::1/128"),
            ("10.0.0.1", "10.0.0.1"),
        ] {
            let error = AllowList::parse(text).expect_err(text);
            assert_eq!(&text[error.range.clone()], underlined, "{text:?}");
            assert!(error.reason.contains('`'), "{}", error.reason);
        }
    }
}
