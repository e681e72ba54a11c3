//! `ralph-town attach`: the live terminal of a teammate's `tty = true` command (tmux in the
//! sandbox, over the provider's `attach`; detach with tmux's `Ctrl-b d`), else its output,
//! followed, with this terminal's input forwarded line by line to the command's stdin.

use std::io::{BufRead, IsTerminal, Write};

use futures::StreamExt;

use super::args::AttachArgs;
use super::{load_team, provider_for};
use crate::error::{Error, Result, exit};
use crate::provider::AttachRequest;
use crate::workflow;

/// The tmux client that shows the runner's session (the socket is the one the runner made).
const TMUX_ATTACH: &str = "exec tmux -S \"$HOME/.ralph-town/work/tmux.sock\" attach -t ralph-town";

pub(super) async fn run(args: &AttachArgs) -> Result<i32> {
    let team = load_team(&args.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let names = workflow::logs_selection(&team, std::slice::from_ref(&args.teammate))?;
    let found = workflow::teammate_sandboxes(provider.as_ref(), &team, &names)
        .await?
        .remove(0);
    let tty = found.teammate.work.as_ref().is_some_and(|work| work.tty);
    if tty {
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage(
                format!("`{}` runs on a terminal and stdin is not one", args.teammate),
                Some("run `ralph-town attach` from a terminal, or read its output with `ralph-town logs -f`".to_string()),
            ));
        }
        let request = AttachRequest {
            cwd: None,
            command: Some(TMUX_ATTACH.to_string()),
            terminal: true,
            timeout: None,
        };
        let code = provider.attach(&found.sandbox.id, &request).await?;
        return Ok(code.unwrap_or(exit::FAILURE));
    }
    // Output, followed from the start of the current runner, and stdin forwarded to it.
    let mut stream = workflow::logs::follow(provider.as_ref(), &found, 0).await?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<String>(16);
    // A blocking read of this process's stdin, on a thread of its own.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if sender.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut input_open = true;
    loop {
        tokio::select! {
            line = stream.next() => match line {
                Some(line) => {
                    let line = line?;
                    let mut stdout = std::io::stdout().lock();
                    let _ = writeln!(stdout, "{}", line.line);
                    let _ = stdout.flush();
                }
                None => break,
            },
            input = receiver.recv(), if input_open => match input {
                Some(input) => workflow::send_input(provider.as_ref(), &found, &input).await?,
                None => input_open = false,
            },
        }
    }
    Ok(exit::SUCCESS)
}
