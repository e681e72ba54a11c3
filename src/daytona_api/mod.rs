//! Daytona wire types (serde), shared by the `daytona` provider and `serve`.
