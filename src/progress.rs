//! Progress reporters for `apply`: the only module that imports indicatif.
