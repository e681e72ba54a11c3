//! The SSH gateway of `serve` (`--ssh-listen`), as Daytona's: the SSH user name is an access
//! token from `POST /api/sandbox/{id}/ssh-access`, and there is no other client
//! authentication. A live token is accepted whatever method the client offers first (`none`,
//! any public key, keyboard-interactive); passwords are refused. A sandbox that is not
//! `started` gets Daytona's message and the connection closes. Exec requests and shells (on a
//! terminal when asked) run in the sandbox through the provider (see `channel.rs`). Revoking
//! the token (`DELETE /ssh-access`) disconnects the connections made with it, which ends what
//! they run; one that expires or is replaced only admits no new connection.
//!
//! The token is a credential: it is never logged, printed or put in an error. This module
//! prints nothing at all; `serve` says where it listens.

mod channel;
mod host_key;
pub(super) mod pty;

use std::net::SocketAddr;
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, Disconnect, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::revocation::{Grant, Watch};
use super::ssh_access::sandbox_for_token;
use super::state::{AppState, now};
use super::view::derived_state;
use super::{ServeError, ServeOptions};
use crate::daytona_api::SandboxState;

/// How long connections may take to close once the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What every connection needs.
struct Context {
    state: Arc<AppState>,
}

/// A bound gateway, not yet accepting connections.
pub(crate) struct Gateway {
    listener: TcpListener,
    address: SocketAddr,
    config: Arc<russh::server::Config>,
}

/// Binds the gateway `options` ask for (`None` without [`ServeOptions::ssh_listen`]) and loads
/// (or makes) the host key under the state root.
pub(crate) async fn bind(options: &ServeOptions) -> Result<Option<Gateway>, ServeError> {
    let Some(address) = options.ssh_listen else {
        return Ok(None);
    };
    let key = host_key::load_or_create(options.state_dir.as_deref())?;
    let failed = |source| ServeError::BindSsh { address, source };
    let listener = TcpListener::bind(address).await.map_err(failed)?;
    let address = listener.local_addr().map_err(failed)?;
    let config = russh::server::Config {
        server_id: russh::SshId::Standard(
            concat!("SSH-2.0-ralph-town_", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods: MethodSet::from(
            &[
                MethodKind::None,
                MethodKind::PublicKey,
                MethodKind::KeyboardInteractive,
            ][..],
        ),
        keys: vec![key],
        // An interactive shell may sit idle for long; dead clients are found by keepalives.
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 3,
        nodelay: true,
        ..russh::server::Config::default()
    };
    Ok(Some(Gateway {
        listener,
        address,
        config: Arc::new(config),
    }))
}

impl Gateway {
    /// The bound address (with the real port when asked for port 0).
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Accepts connections until `stop` turns true, then disconnects the open ones.
    pub(crate) async fn run(self, state: Arc<AppState>, stop: tokio::sync::watch::Receiver<bool>) {
        let context = Arc::new(Context { state });
        let mut connections = JoinSet::new();
        let mut watching = stop.clone();
        let stopped = async move {
            // A closed sender means the server is gone: stop too.
            let _ = watching.wait_for(|stop| *stop).await;
        };
        tokio::pin!(stopped);
        while let Some(stream) =
            super::next_connection(&self.listener, &mut stopped, &mut connections).await
        {
            let (granted, grant) = tokio::sync::oneshot::channel();
            let handler = Connection {
                context: context.clone(),
                sandbox: None,
                granted: Some(granted),
            };
            let stop = stop.clone();
            connections.spawn(connect(self.config.clone(), stream, handler, grant, stop));
        }
        drop(self.listener);
        let closed = async { while connections.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, closed).await;
    }
}

/// Runs one connection; when the server stops, or the token it was accepted with (sent on
/// `grant`) is revoked, disconnects it and waits for it to close.
async fn connect(
    config: Arc<russh::server::Config>,
    stream: tokio::net::TcpStream,
    handler: Connection,
    grant: tokio::sync::oneshot::Receiver<Watch>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = async move {
        // A closed sender means the server is gone: stop too.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stopped);
    // The same socket, to end it by: russh serves the session in a task of its own, which
    // dropping `session` does not end.
    let socket = stream.as_fd().try_clone_to_owned().ok();
    let session = tokio::select! {
        started = russh::server::run_stream(config, stream, handler) => match started {
            Ok(session) => session,
            Err(_) => return,
        },
        () = &mut stopped => return,
    };
    let revoked = async move {
        match grant.await {
            Ok(watch) => watch.revoked().await,
            // Never accepted: the session ends on its own.
            Err(_) => std::future::pending().await,
        }
    };
    let handle = session.handle();
    tokio::pin!(session);
    let reason = tokio::select! {
        _ = &mut session => return,
        () = &mut stopped => "the server is shutting down",
        () = revoked => "the SSH access token was revoked",
    };
    let _ = handle
        .disconnect(Disconnect::ByApplication, reason.to_string(), String::new())
        .await;
    // A client that does not close is dropped: that ends its channels' programs too. After
    // the disconnect the session reads until the client closes, without end for one that
    // reads nothing (a frozen or hostile client); ending the socket's input ends that read.
    if tokio::time::timeout(SHUTDOWN_GRACE, &mut session)
        .await
        .is_err()
    {
        if let Some(socket) = &socket {
            let _ = rustix::net::shutdown(socket, rustix::net::Shutdown::Both);
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, session).await;
    }
}

/// Daytona's message when sandbox `id` cannot take a session now; `None` when it can.
async fn unavailable(state: &AppState, id: &str) -> Option<String> {
    let sandbox = match state.provider.get(id).await {
        Ok(sandbox) => sandbox,
        Err(error) => return Some(format!("Failed to verify sandbox state: {error}")),
    };
    let record = state.store.sandbox(&sandbox.id);
    let (shown, _) = derived_state(&sandbox, &record, now());
    if shown == SandboxState::Started {
        return None;
    }
    let name = serde_json::to_value(&shown).unwrap_or_default();
    Some(format!(
        "Sandbox is not started (state: {}). Please start the sandbox before attempting to connect.",
        name.as_str().unwrap_or("unknown")
    ))
}

/// One client connection; `sandbox` is set once its token is accepted, and the token's watch
/// goes to the connection's task through `granted`.
struct Connection {
    context: Arc<Context>,
    sandbox: Option<String>,
    granted: Option<tokio::sync::oneshot::Sender<Watch>>,
}

impl Connection {
    /// Accepts `token` when it is live, remembering its sandbox and watching for its
    /// revocation.
    fn authenticate(&mut self, token: &str) -> Auth {
        let state = &self.context.state;
        let Some(sandbox) = sandbox_for_token(state, token, now()) else {
            return Auth::reject();
        };
        let grant = Grant::Ssh {
            sandbox: sandbox.clone(),
            token: token.to_string(),
        };
        let live = || sandbox_for_token(state, token, now()).as_ref() == Some(&sandbox);
        let Some(watch) = state.revocations.hold(grant, live) else {
            return Auth::reject();
        };
        if let Some(granted) = self.granted.take() {
            let _ = granted.send(watch);
        }
        self.sandbox = Some(sandbox);
        Auth::Accept
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        Ok(self.authenticate(user))
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        _offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Spares the client a signature when the token is no good anyway.
        Ok(match sandbox_for_token(&self.context.state, user, now()) {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        _key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.authenticate(user))
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.authenticate(user))
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        let Some(sandbox) = &self.sandbox else {
            return Ok(());
        };
        if let Some(message) = unavailable(&self.context.state, sandbox).await {
            session.disconnect(Disconnect::ByApplication, &message, "")?;
        } else {
            self.context.state.store.touch(sandbox, now());
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(sandbox) = self.sandbox.clone() else {
            return Ok(());
        };
        reply.accept().await;
        tokio::spawn(channel::serve(channel, self.context.clone(), sandbox));
        Ok(())
    }

    // Requests are answered here, in the order they arrive; the channel's task acts on them.

    // The trait's signature.
    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _columns: u32,
        _rows: u32,
        _pixel_width: u32,
        _pixel_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    /// The client's environment is not taken (OpenSSH sends `LANG` and `LC_*`): a sandbox
    /// has its own.
    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    /// No subsystems (sftp): there is no sftp server in a sandbox to run.
    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _protocol: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }
}
