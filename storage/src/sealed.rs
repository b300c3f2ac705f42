//! Secrets at rest (camera credentials, TOTP seeds): sealed with XChaCha20-Poly1305 under a
//! 32-byte key that lives outside the index (a key file named in the config).

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::{Error, Result};

/// Reads a 32-byte key kept as 64 hex characters in `path`, or creates the file (and its
/// directory) with a random key, mode 0600, never overwriting one. `what` names the key in the
/// log. Shared by every key the system keeps in a file (credential sealing, export signing).
pub fn load_or_create_key(path: &std::path::Path, what: &str) -> Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim())
                .map_err(|_| Error::Invalid(format!("{}: not hex", path.display())))?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| Error::Invalid(format!("{}: key must be 32 bytes", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            f.write_all(hex::encode(key).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io(path, e))?;
            tracing::info!(file = %path.display(), "created a new {what}");
            Ok(key)
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Seals and opens small secrets. `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox(XChaCha20Poly1305);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        SecretBox(XChaCha20Poly1305::new(key.into()))
    }

    /// Reads a key file (64 hex characters), creating one with a random key if it does not
    /// exist (mode 0600).
    pub fn load_or_create(path: &std::path::Path) -> Result<Self> {
        Ok(SecretBox::new(&load_or_create_key(path, "secret key")?))
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption with a fresh nonce and an in-memory buffer does not fail.
        out.extend(
            self.0
                .encrypt(XNonce::from_slice(&nonce), plaintext)
                .unwrap_or_default(),
        );
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 24 + 16 {
            return Err(Error::Invalid("sealed secret too short".into()));
        }
        let (nonce, ct) = sealed.split_at(24);
        self.0
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| Error::Invalid("sealed secret does not open with this key".into()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_detects_tampering() {
        let b = SecretBox::new(&[7; 32]);
        let s = b.seal(b"viewer\0hunter2");
        assert!(!s.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(b.open(&s).unwrap(), b"viewer\0hunter2");
        let mut t = s.clone();
        t[30] ^= 1;
        assert!(b.open(&t).is_err());
        assert!(SecretBox::new(&[8; 32]).open(&s).is_err());
        assert!(b.open(&[1, 2, 3]).is_err());
    }
}
