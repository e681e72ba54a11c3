//! One SSH session channel: first the requests that shape it (a terminal and its size), then
//! the exec command or the shell, run in the sandbox through the provider and streamed:
//! channel data to stdin, stdout to data, stderr to extended data, the exit code as
//! `exit-status`.
//!
//! A channel lives in its own task, so a slow program never holds up the connection's other
//! channels. Requests are answered by the connection's handler as they arrive (russh matches
//! replies to requests by order), so this task only reads them. What passes through is never
//! logged or kept.

use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::io::{AsyncRead, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Context;
use super::pty::{self, Pty, Size};
use crate::serve::state::now;

/// How long output may keep arriving after the program exited, from processes it left behind
/// (they are killed when it exits, but their buffered output is still delivered).
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// How often a running session counts as activity on its sandbox, as the Daytona gateway
/// reports it, so that auto-stop spares a sandbox someone is working in.
const ACTIVITY_INTERVAL: Duration = Duration::from_secs(30);

/// The end-of-file character of a terminal in canonical mode (`^D`).
const END_OF_FILE: u8 = 0x04;

/// The terminal a client asked for.
struct Terminal {
    name: String,
    size: Size,
}

/// Serves channel `channel` of a connection to sandbox `sandbox` until it closes.
pub(super) async fn serve(channel: Channel<Msg>, context: Arc<Context>, sandbox: String) {
    let (mut reader, writer) = channel.split();
    let mut terminal: Option<Terminal> = None;
    let program = loop {
        let Some(message) = reader.wait().await else {
            return;
        };
        match message {
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                ..
            } => {
                terminal = Some(Terminal {
                    name: term,
                    size: Size {
                        columns: col_width,
                        rows: row_height,
                    },
                });
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            } => {
                if let Some(terminal) = &mut terminal {
                    terminal.size = Size {
                        columns: col_width,
                        rows: row_height,
                    };
                }
            }
            ChannelMsg::Exec { command, .. } => {
                break Some(String::from_utf8_lossy(&command).into_owned());
            }
            ChannelMsg::RequestShell { .. } => break None,
            ChannelMsg::Close => return,
            _ => {}
        }
    };
    let run = Run {
        context: &context,
        sandbox: &sandbox,
    };
    let code = match run.run(program, terminal, &mut reader, &writer).await {
        Ok(Some(code)) => code,
        // The client went away: nobody is left to tell.
        Ok(None) => return,
        Err(message) => {
            let _ = writer
                .extended_data_bytes(1, format!("{message}\r\n"))
                .await;
            1
        }
    };
    let _ = writer.exit_status(code).await;
    let _ = writer.eof().await;
    let _ = writer.close().await;
}

/// One program run for a channel.
struct Run<'a> {
    context: &'a Context,
    sandbox: &'a str,
}

/// Where the client's input goes.
enum Input {
    Pipe(tokio::process::ChildStdin),
    Terminal(Arc<Pty>),
}

impl Run<'_> {
    /// Runs `program` (the shell when `None`) to its end; its exit code, or `None` when the
    /// client closed the channel first (the program is killed then). An error is a message
    /// for the client.
    async fn run(
        &self,
        program: Option<String>,
        terminal: Option<Terminal>,
        reader: &mut ChannelReadHalf,
        writer: &ChannelWriteHalf<Msg>,
    ) -> Result<Option<u32>, String> {
        let state = &self.context.state;
        if let Some(message) = super::unavailable(state, self.sandbox).await {
            return Err(message);
        }
        let term = terminal
            .as_ref()
            .map(|terminal| match terminal.name.as_str() {
                "" => "dumb",
                name => name,
            });
        let request = crate::provider::HostCommandRequest {
            cwd: None,
            command: program,
            terminal: term.map(str::to_string),
            env: Default::default(),
        };
        let mut command = state
            .provider
            .host_command(self.sandbox, &request)
            .await
            .map_err(|error| error.to_string())?;

        let mut outputs = JoinSet::new();
        let (mut child, input, pty) = if let Some(terminal) = &terminal {
            let (pty, tty) = pty::open(terminal.size)
                .map_err(|error| format!("cannot open a terminal: {error}"))?;
            pty::attach(&mut command, tty)
                .map_err(|error| format!("cannot open a terminal: {error}"))?;
            let child = spawn(command)?;
            let pty = Arc::new(pty);
            outputs.spawn(forward_terminal(pty.clone(), writer.make_writer()));
            (child, Input::Terminal(pty.clone()), Some(pty))
        } else {
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0);
            let mut child = spawn(command)?;
            if let Some(stdout) = child.stdout.take() {
                outputs.spawn(forward(stdout, writer.make_writer()));
            }
            if let Some(stderr) = child.stderr.take() {
                outputs.spawn(forward(stderr, writer.make_writer_ext(Some(1))));
            }
            let stdin = child.stdin.take().ok_or("cannot connect standard input")?;
            (child, Input::Pipe(stdin), None)
        };
        // Both kinds of child lead their own process group (and, on a terminal, session).
        let group = child
            .id()
            .ok_or("the program ended before it could be tracked")?;
        let attached = state
            .provider
            .track_process(self.sandbox, group)
            .await
            .map_err(|error| error.to_string())?;

        // Input goes through a task, so a program that does not read cannot stall this loop
        // (and with it the window changes and the close of the channel).
        let (input_sender, input_receiver) = mpsc::unbounded_channel::<Vec<u8>>();
        let mut input_sender = Some(input_sender);
        let input_task = tokio::spawn(feed(input, input_receiver));
        let mut activity = tokio::time::interval(ACTIVITY_INTERVAL);
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                message = reader.wait() => match message {
                    None | Some(ChannelMsg::Close) => {
                        input_task.abort();
                        return Ok(None);
                    }
                    Some(ChannelMsg::Data { data }) => {
                        if let Some(sender) = &input_sender {
                            let _ = sender.send(data.to_vec());
                        }
                    }
                    Some(ChannelMsg::Eof) => match &pty {
                        // A terminal has no end of input; its line discipline reads `^D` as one.
                        Some(_) => {
                            if let Some(sender) = &input_sender {
                                let _ = sender.send(vec![END_OF_FILE]);
                            }
                        }
                        None => input_sender = None,
                    },
                    Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                        if let Some(pty) = &pty {
                            let _ = pty.resize(Size { columns: col_width, rows: row_height });
                        }
                    }
                    Some(_) => {}
                },
                _ = activity.tick() => state.store.touch(self.sandbox, now()),
            }
        };
        let status = status.map_err(|error| format!("lost the program: {error}"))?;
        // Whatever the program left running in its group ends with it, as with exec; that
        // also closes their copies of the output.
        drop(attached);
        drop(input_sender);
        input_task.abort();
        let drained = async { while outputs.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(STRAGGLER_GRACE, drained).await;
        Ok(Some(exit_code(status)))
    }
}

fn spawn(command: std::process::Command) -> Result<tokio::process::Child, String> {
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|error| format!("cannot start the program: {error}"))?;
    // Our copies of the child's ends (a pipe, the terminal) must close, or reading would never
    // see the end.
    drop(command);
    Ok(child)
}

/// The exit code a shell would report: the code, or 128 plus the signal that ended it.
fn exit_code(status: ExitStatus) -> u32 {
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or_default());
    u32::try_from(code).unwrap_or(255)
}

/// Writes the client's input to the program until the client's end of input.
async fn feed(input: Input, mut receiver: mpsc::UnboundedReceiver<Vec<u8>>) {
    match input {
        Input::Pipe(mut stdin) => {
            while let Some(data) = receiver.recv().await {
                if stdin.write_all(&data).await.is_err() {
                    return;
                }
            }
            // Dropping stdin closes it: the program sees the end of its input.
        }
        Input::Terminal(pty) => {
            while let Some(data) = receiver.recv().await {
                if pty.write_all(&data).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Copies a pipe of the program to the channel (data or extended data).
async fn forward(
    mut output: impl AsyncRead + Unpin,
    mut channel: impl tokio::io::AsyncWrite + Unpin,
) {
    let _ = tokio::io::copy(&mut output, &mut channel).await;
}

/// Copies the terminal's output to the channel until no process holds the terminal.
async fn forward_terminal(pty: Arc<Pty>, mut channel: impl tokio::io::AsyncWrite + Unpin) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match pty.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                if channel.write_all(&buffer[..read]).await.is_err() {
                    return;
                }
                let _ = channel.flush().await;
            }
        }
    }
}
