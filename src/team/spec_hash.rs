//! The spec hash: a versioned fingerprint of everything that needs a new sandbox to change.
//!
//! Version 2 leaves out `env`: a change of the plain environment is applied in place (the
//! provider's env and the `env.sh` that login shells source are rewritten), so it must not make
//! a new sandbox. Sandboxes labelled with a version-1 hash are planned as changed (their labels
//! carry no field values to compare), once.
//!
//! `up` compares it with the `ralph-town/spec` label of a live sandbox and recreates on a
//! difference, so the hash must be stable: the same resolved teammate gives the same hash on
//! every machine and every release. It covers exactly the recreate-worthy fields, in a fixed
//! order, each length-prefixed so that no two specs share an encoding. It never covers a secret
//! value (only secret names) nor what a provider changes in place (auto-stop, auto-archive,
//! auto-delete). Changing the encoding below changes every hash, which recreates every user's
//! team: bump the version instead, and only on purpose.

use sha2::{Digest, Sha256};

use super::Teammate;

/// The format version, the prefix of every hash.
const VERSION: &str = "v2";

/// `v2:` + hex SHA-256 of the teammate's canonical spec and its rendered setup script.
pub fn spec_hash(teammate: &Teammate, setup_script: &str) -> String {
    let mut canonical = Canonical(Sha256::new());
    canonical.text("format", Some("ralph-town/spec/v2"));
    canonical.text("repo", Some(&teammate.repo));
    canonical.text("branch", Some(&teammate.branch));
    canonical.text("base_branch", teammate.base_branch.as_deref());
    canonical.text("snapshot", teammate.snapshot.as_deref());
    let mut secret_names: Vec<&str> = teammate.secrets.iter().map(|s| s.name.as_str()).collect();
    secret_names.sort_unstable();
    secret_names.dedup();
    canonical.count("secrets", secret_names.len());
    for name in secret_names {
        canonical.text("secret.name", Some(name));
    }
    canonical.text("git.user_name", Some(&teammate.git.user_name));
    canonical.text("git.user_email", Some(&teammate.git.user_email));
    canonical.number("resources.cpu", teammate.resources.cpu);
    canonical.number("resources.memory", teammate.resources.memory);
    canonical.number("resources.disk", teammate.resources.disk);
    canonical.text("workdir", Some(&teammate.workdir));
    // Daytona takes `ttlMinutes` only at creation and cannot change it later, so a new ttl
    // takes effect only in a new sandbox: it is recreate-worthy, unlike the lifecycle timers.
    canonical.number("ttl_minutes", teammate.ttl_minutes);
    canonical.text("setup_script", Some(setup_script));
    format!("{VERSION}:{}", hex::encode(canonical.0.finalize()))
}

/// Feeds fields to the hasher as `name NUL tag [length value]`, tag 0 for absent, 1 for present.
struct Canonical(Sha256);

impl Canonical {
    fn text(&mut self, name: &str, value: Option<&str>) {
        self.0.update(name.as_bytes());
        self.0.update([0]);
        match value {
            None => self.0.update([0]),
            Some(value) => {
                self.0.update([1]);
                self.0.update((value.len() as u64).to_le_bytes());
                self.0.update(value.as_bytes());
            }
        }
    }

    fn number(&mut self, name: &str, value: Option<u32>) {
        self.text(name, value.map(|number| number.to_string()).as_deref());
    }

    fn count(&mut self, name: &str, count: usize) {
        self.text(name, Some(&count.to_string()));
    }
}
