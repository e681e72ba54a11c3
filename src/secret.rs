//! Secret values read from the host at `up` time.
//!
//! A [`Secret`] never prints its value: `Debug` and `Display` show `<secret>`, and it has no
//! `Serialize`. The only way to the value is [`Secret::expose`], used where the value enters
//! the setup process's environment.

use std::collections::BTreeMap;
use std::fmt;

/// A credential value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value itself. Call only to hand it to a process environment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Secret values by the name they have inside the sandbox.
pub type Secrets = BTreeMap<String, Secret>;
