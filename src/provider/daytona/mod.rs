//! The `daytona` provider: Daytona's REST API over reqwest.
