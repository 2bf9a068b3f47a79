//! API keys: `ahk_` + 43 URL-safe characters (256 random bits). Only their SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "ahk_";
/// Characters of a key kept for display (`ahk_` + 8).
const DISPLAY_PREFIX_LEN: usize = 12;

pub struct GeneratedKey {
    pub key: String,
    pub hash: String,
    pub prefix: String,
}

pub fn generate() -> GeneratedKey {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    GeneratedKey {
        hash: hash(&key),
        prefix: key[..DISPLAY_PREFIX_LEN].to_owned(),
        key,
    }
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(KEY_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let k = generate();
        assert_eq!(k.key.len(), 4 + 43);
        assert!(is_api_key(&k.key));
        assert!(
            k.key[4..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(k.prefix, &k.key[..12]);
        assert_eq!(k.hash, hash(&k.key));
        assert_eq!(k.hash.len(), 64);
        assert_ne!(generate().key, k.key);
    }
}
