//! AUTH users from the configuration, with Argon2-hashed passwords.

use std::collections::HashMap;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use async_trait::async_trait;
use envoi_edge::{AuthVerdict, Authenticator};

use crate::config::smtp::User;

/// Checks AUTH credentials against `[[smtp.auth.user]]`.
pub struct UserTable {
    hashes: HashMap<String, String>,
}

impl UserTable {
    /// The table for these users.
    pub fn new(users: &[User]) -> Self {
        Self {
            hashes: users
                .iter()
                .map(|u| (u.name.clone(), u.password_hash.clone()))
                .collect(),
        }
    }
}

#[async_trait]
impl Authenticator for UserTable {
    async fn check(&self, authzid: &str, username: &str, password: &str) -> AuthVerdict {
        if !authzid.is_empty() && authzid != username {
            return AuthVerdict::Rejected;
        }
        let Some(hash) = self.hashes.get(username).cloned() else {
            return AuthVerdict::Rejected;
        };
        let password = password.to_owned();
        let user = username.to_owned();
        // Argon2 is deliberately slow: keep it off the async workers.
        let verdict = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return AuthVerdict::Unavailable;
            };
            match Argon2::default().verify_password(password.as_bytes(), &parsed) {
                Ok(()) => AuthVerdict::Accepted(user),
                Err(_) => AuthVerdict::Rejected,
            }
        })
        .await;
        verdict.unwrap_or(AuthVerdict::Unavailable)
    }
}

/// An Argon2id PHC string for `password`, for `[[smtp.auth.user]] password_hash`.
///
/// # Errors
/// When hashing fails (it does not for ordinary passwords).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_hashed_passwords() {
        let users = vec![User {
            name: "alice".into(),
            password_hash: hash_password("s3cret").unwrap(),
        }];
        let table = UserTable::new(&users);
        assert_eq!(
            table.check("", "alice", "s3cret").await,
            AuthVerdict::Accepted("alice".into())
        );
        assert_eq!(
            table.check("", "alice", "wrong").await,
            AuthVerdict::Rejected
        );
        assert_eq!(
            table.check("", "bob", "s3cret").await,
            AuthVerdict::Rejected
        );
        assert_eq!(
            table.check("bob", "alice", "s3cret").await,
            AuthVerdict::Rejected
        );
    }
}
