//! Values that must never reach a log line, an error message or `check-config` output.
//!
//! Both types keep the real value for the code that needs it (`expose`) and print a mask everywhere else:
//! `Debug`, `Display` and `Serialize` all go through the mask, so a `{:?}` of a whole `Config` is safe.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What a masked value prints as.
pub const MASK: &str = "***";

/// A password or AMI secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value; only for the code that authenticates with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A Redis connection URL, which may carry a password (`redis://user:pass@host`, `unix:///s?pass=…`).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The URL as written, password included; only for the code that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by the mask.
    pub fn masked(&self) -> String {
        mask_url(&self.0)
    }

    /// Whether the URL itself carries a password (then `password`/`password_file` must not be set too).
    pub fn has_password(&self) -> bool {
        self.masked() != self.0
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for RedisUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for RedisUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(RedisUrl)
    }
}

/// Masks the password of `scheme://user:password@host…` and the `pass`/`password` query parameters
/// that redis-rs accepts on unix socket URLs. Anything unparseable is returned unchanged: it carries
/// no recognisable credential.
pub fn mask_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = mask_userinfo(head);
    if let Some(query) = query {
        out.push('?');
        out.push_str(&mask_query(query));
    }
    out
}

fn mask_userinfo(head: &str) -> String {
    let Some((scheme, rest)) = head.split_once("://") else { return head.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    // The last '@' ends the userinfo: a password may itself contain '@'.
    let Some(at) = authority.rfind('@') else { return head.to_owned() };
    let (userinfo, host) = authority.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:{MASK}{host}{path}"),
        None => head.to_owned(),
    }
}

fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            // Any case: a masker that misses `PASS=` would print the one secret it exists to hide.
            Some((key, _)) if key.eq_ignore_ascii_case("pass") || key.eq_ignore_ascii_case("password") => {
                format!("{key}={MASK}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(
            toml::to_string(&[("k", &s)].into_iter().collect::<std::collections::BTreeMap<_, _>>()).unwrap(),
            "k = \"***\"\n"
        );
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn url_password_is_masked() {
        let cases = [
            ("redis://u:p@h:6379/0", "redis://u:***@h:6379/0"),
            ("rediss://:p@w@h", "rediss://:***@h"),
            ("redis://h:6379", "redis://h:6379"),
            ("redis://user@h", "redis://user@h"),
            ("unix:///run/redis.sock?db=1&pass=x", "unix:///run/redis.sock?db=1&pass=***"),
            ("unix:///run/redis.sock?PASSWORD=x", "unix:///run/redis.sock?PASSWORD=***"),
            ("redis://u:p%40ss@h:6379/0", "redis://u:***@h:6379/0"),
            ("not a url", "not a url"),
            ("/run/redis/redis.sock", "/run/redis/redis.sock"),
        ];
        for (url, masked) in cases {
            assert_eq!(mask_url(url), masked, "{url}");
        }
        assert!(RedisUrl::new("redis://:p@h").has_password());
        assert!(!RedisUrl::new("redis://h").has_password());
        assert_eq!(format!("{:?}", RedisUrl::new("redis://a:b@h")), "\"redis://a:***@h\"");
    }
}
