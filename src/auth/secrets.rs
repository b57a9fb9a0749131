//! Secrets: random tokens, their stored hashes, and password hashing.
//! Tokens are stored only as SHA-256 hashes; passwords as argon2id.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};

/// A new random secret: 32 bytes, URL-safe base64, with a readable prefix.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a password with argon2id off the async runtime.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await?
}

/// Checks a password against a stored hash, off the async runtime.
pub async fn verify_password(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so a login
/// for an unknown name costs as much as one for a known name.
pub async fn dummy_hash() -> &'static str {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY.get_or_init(|| async { hash_password(new_token("")).await.unwrap_or_default() }).await
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Encrypts a value that only the holder of a session's secret may read
/// again (a provider's refresh token, kept beside the session): the key is
/// derived from the cookie's secret, which the database never holds.
pub fn seal_for_session(session_secret: &str, value: &str) -> String {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    let key = LessSafeKey::new(
        UnboundKey::new(&CHACHA20_POLY1305, &session_key(session_secret))
            .expect("a 32-byte key fits ChaCha20-Poly1305"),
    );
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).expect("the operating system provides randomness");
    let mut sealed = value.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut sealed)
        .expect("ChaCha20-Poly1305 seals any length this server keeps");
    let mut stored = nonce.to_vec();
    stored.extend_from_slice(&sealed);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(stored)
}

/// Reads a value sealed by [`seal_for_session`]; `None` when it was sealed
/// under another secret or altered.
pub fn open_for_session(session_secret: &str, stored: &str) -> Option<String> {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(stored).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &session_key(session_secret)).ok()?);
    let mut sealed = sealed.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let opened = key.open_in_place(nonce, Aad::empty(), &mut sealed).ok()?;
    String::from_utf8(opened.to_vec()).ok()
}

fn session_key(session_secret: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(b"atlascope: a value sealed for one session\0");
    digest.update(session_secret.as_bytes());
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), hash.clone()).await);
        assert!(!verify_password("wrong".into(), hash).await);
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token("acs_"), new_token("acs_"));
        assert_ne!(a, b);
        assert!(a.starts_with("acs_") && a.len() > 40);
        assert_eq!(hash_token(&a).len(), 64);
        assert!(!hash_token(&a).contains(&a));
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_session_secret() {
        let sealed = seal_for_session("cookie-secret", "refresh-token-value");
        assert!(!sealed.contains("refresh-token-value"));
        assert_eq!(open_for_session("cookie-secret", &sealed).as_deref(), Some("refresh-token-value"));
        assert_eq!(open_for_session("another-secret", &sealed), None);
        let mut altered = sealed.clone();
        altered.replace_range(20..21, if &sealed[20..21] == "A" { "B" } else { "A" });
        assert_eq!(open_for_session("cookie-secret", &altered), None);
        assert_eq!(open_for_session("cookie-secret", "short"), None);
    }
}
