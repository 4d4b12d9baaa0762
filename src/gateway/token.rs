//! Gateway tokens: JWT signed with HS256 (DESIGN.md "Gateway"). Claims `sub`, `exp`, `pbx` (one or a list),
//! optional `agent` (only that agent and its queues), `queues` (only those), `actions` (may send commands).
//!
//! Verification accepts HS256 only: a token saying `alg: none` or any other algorithm is refused before its
//! signature is looked at, so a forged header cannot downgrade the check.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated on `exp` between the host that signed a token and the gateway.
const EXP_LEEWAY_S: u64 = 5;

/// `pbx`: a single id or a list, both spellings accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PbxClaim {
    One(String),
    Many(Vec<String>),
}

impl PbxClaim {
    pub fn allows(&self, pbx: &str) -> bool {
        match self {
            PbxClaim::One(one) => one == pbx,
            PbxClaim::Many(many) => many.iter().any(|p| p == pbx),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token was issued to (logged with commands once they exist).
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    pub pbx: PbxClaim,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub actions: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The library's reason (expired, bad signature, wrong algorithm, malformed); never the token itself.
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("cannot sign token: {0}")]
    Sign(String),
}

/// Signs `claims` with `secret`.
pub fn issue(secret: &[u8], claims: &Claims) -> Result<String, TokenError> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
        .map_err(|err| TokenError::Sign(err.to_string()))
}

/// Checks signature, algorithm and expiry and returns the claims.
pub fn verify(secret: &[u8], token: &str) -> Result<Claims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = EXP_LEEWAY_S;
    validation.set_required_spec_claims(&["exp", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .map(|data| data.claims)
        .map_err(|err| TokenError::Invalid(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "t".into(),
            exp,
            pbx: PbxClaim::One("pbx1".into()),
            agent: None,
            queues: None,
            actions: false,
        }
    }

    fn now_s() -> u64 {
        (crate::sink::now_ms() / 1000) as u64
    }

    #[test]
    fn round_trip_and_refusals() {
        let secret = b"0123456789abcdef0123";
        let valid = claims(now_s() + 60);
        let token = issue(secret, &valid).unwrap();
        assert_eq!(verify(secret, &token).unwrap(), valid);
        assert!(verify(b"another secret 123456", &token).is_err());
        let expired = issue(secret, &claims(now_s() - 3600)).unwrap();
        assert!(verify(secret, &expired).unwrap_err().to_string().contains("Expired"));
        // alg none: header {"alg":"none"}, the same claims, no signature.
        let body = token.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.");
        assert!(verify(secret, &none).is_err());
        assert!(verify(secret, "not a token").is_err());
    }

    #[test]
    fn pbx_claim_one_or_many() {
        let many: PbxClaim = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert!(many.allows("b") && !many.allows("c"));
        let one: PbxClaim = serde_json::from_str(r#""a""#).unwrap();
        assert!(one.allows("a") && !one.allows("b"));
    }
}
