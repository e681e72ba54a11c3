//! `ralph-town serve`: a Daytona-compatible API over local sandboxes.
