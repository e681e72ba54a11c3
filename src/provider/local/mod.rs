//! The `local` provider: sandboxes are directories on this machine.
