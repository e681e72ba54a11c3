//! Preview links and the URLs of build logs: `PortPreviewUrl`, `SignedPortPreviewUrl`, `Url`.

use serde::{Deserialize, Serialize};

/// `GET /sandbox/{id}/ports/{port}/preview-url`: the link and the token it needs
/// (`x-daytona-preview-token`) unless the sandbox is public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PortPreviewUrl {
    pub sandbox_id: String,
    pub url: String,
    pub token: String,
}

/// `GET /sandbox/{id}/ports/{port}/signed-preview-url`: a link that carries its own token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedPortPreviewUrl {
    pub sandbox_id: String,
    pub port: u16,
    pub token: String,
    pub url: String,
}

/// A URL answer (`Url`), e.g. where the build logs stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Url {
    pub url: String,
}
