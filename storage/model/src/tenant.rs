//! Tenant IDs, validated the way Loki (dskit) validates `X-Scope-OrgID`.

use std::fmt;

/// The tenant used for every request when `auth_enabled: false`, as in Loki.
pub const SINGLE_TENANT: &str = "fake";
/// Longest tenant id dskit accepts.
pub const MAX_TENANT_ID_LEN: usize = 150;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    #[error("tenant ID is too long: max {MAX_TENANT_ID_LEN} characters")]
    TooLong,
    #[error("tenant ID is '.' or '..'")]
    Unsafe,
    #[error("tenant ID '{0}' contains unsupported character '{1}'")]
    UnsupportedCharacter(String, char),
    #[error("no org id")]
    Empty,
}

impl TenantId {
    pub fn parse(id: &str) -> Result<Self, TenantIdError> {
        if id.is_empty() {
            return Err(TenantIdError::Empty);
        }
        if id.len() > MAX_TENANT_ID_LEN {
            return Err(TenantIdError::TooLong);
        }
        if id == "." || id == ".." {
            return Err(TenantIdError::Unsafe);
        }
        if let Some(c) = id.chars().find(|c| !is_supported_char(*c)) {
            return Err(TenantIdError::UnsupportedCharacter(id.to_string(), c));
        }
        Ok(Self(id.to_string()))
    }

    pub fn single() -> Self {
        Self(SINGLE_TENANT.to_string())
    }

    /// Several tenants read as one (`a|b`, Loki's multi-tenant queries):
    /// each validated, sorted and deduplicated as dskit's `TenantIDs` does.
    /// One tenant gives that tenant. A single tenant id never holds `|`.
    pub fn parse_many(ids: &str) -> Result<Self, TenantIdError> {
        let mut tenants = ids.split('|').map(TenantId::parse).collect::<Result<Vec<_>, _>>()?;
        tenants.sort();
        tenants.dedup();
        Ok(Self(tenants.iter().map(TenantId::as_str).collect::<Vec<_>>().join("|")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_supported_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_tenants_are_sorted_deduplicated_and_each_validated() {
        assert_eq!(TenantId::parse_many("b|a|b").unwrap().as_str(), "a|b");
        assert_eq!(TenantId::parse_many("a").unwrap().as_str(), "a");
        assert!(TenantId::parse_many("a||b").is_err());
        assert!(TenantId::parse_many("a|b/c").is_err());
    }

    #[test]
    fn validates_like_dskit() {
        assert!(TenantId::parse("team-a_1.prod").is_ok());
        assert!(TenantId::parse("a(b)*'!").is_ok());
        assert_eq!(TenantId::parse(""), Err(TenantIdError::Empty));
        assert_eq!(TenantId::parse(".."), Err(TenantIdError::Unsafe));
        assert_eq!(TenantId::parse("a/b"), Err(TenantIdError::UnsupportedCharacter("a/b".into(), '/')));
        assert_eq!(TenantId::parse(&"x".repeat(151)), Err(TenantIdError::TooLong));
        assert_eq!(
            TenantIdError::UnsupportedCharacter("a/b".into(), '/').to_string(),
            "tenant ID 'a/b' contains unsupported character '/'"
        );
    }
}
