//! Pseudo-terminals for SSH sessions that ask for one: open a pair, make the terminal side the
//! controlling terminal and stdio of a command, and read, write and resize the master side
//! without blocking the runtime.
//!
//! Only the kernel's terminal driver sits between the client and the program; this file keeps
//! no copy of what passes through.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;

use rustix::pty::OpenptFlags;
use tokio::io::unix::AsyncFd;

/// The size of a terminal, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    pub(crate) columns: u32,
    pub(crate) rows: u32,
}

impl Size {
    fn winsize(self) -> rustix::termios::Winsize {
        // A client may send 0 ("unknown") or absurd values; the kernel takes 16 bits.
        let clamp = |value: u32, default: u16| match u16::try_from(value) {
            Ok(0) | Err(_) => default,
            Ok(value) => value,
        };
        rustix::termios::Winsize {
            ws_row: clamp(self.rows, 24),
            ws_col: clamp(self.columns, 80),
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }
}

/// The master side of a pseudo-terminal.
pub(crate) struct Pty {
    master: AsyncFd<OwnedFd>,
}

/// Opens a pseudo-terminal of `size`; returns the master and the terminal side.
pub(crate) fn open(size: Size) -> io::Result<(Pty, OwnedFd)> {
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let terminal = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    rustix::termios::tcsetwinsize(&master, size.winsize())?;
    rustix::io::ioctl_fionbio(&master, true)?;
    // SAFETY: the `OwnedFd` is moved in, so the descriptor stays open and the same for as long
    // as the `AsyncFd` lives.
    let master = unsafe { AsyncFd::register(master) }.map_err(|error| error.into_parts().1)?;
    Ok((Pty { master }, terminal))
}

/// Makes `command` start a new session whose controlling terminal, stdin, stdout and stderr
/// are `terminal`. The caller must drop its copies of `terminal` once the command started, or
/// reading the master would never see the end.
pub(crate) fn attach(command: &mut std::process::Command, terminal: OwnedFd) -> io::Result<()> {
    command
        .stdin(Stdio::from(terminal.try_clone()?))
        .stdout(Stdio::from(terminal.try_clone()?))
        .stderr(Stdio::from(terminal));
    // SAFETY: the closure runs between fork and exec and calls only `setsid` and `ioctl`,
    // which are async-signal-safe system calls; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid()?;
            // Standard input is the terminal by now.
            rustix::process::ioctl_tiocsctty(BorrowedFd::borrow_raw(0))?;
            Ok(())
        });
    }
    Ok(())
}

impl Pty {
    /// Reads what the program wrote; 0 once no process holds the terminal side any more.
    pub(crate) async fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.master.readable().await?;
            match ready.try_io(|master| Ok(rustix::io::read(master.get_ref(), &mut *buffer)?)) {
                // Linux reports a terminal side closed by every process as EIO.
                Ok(Err(error)) if error.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `data` as the program's input.
    pub(crate) async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut ready = self.master.writable().await?;
            match ready.try_io(|master| Ok(rustix::io::write(master.get_ref(), data)?)) {
                Ok(written) => data = &data[written?..],
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Tells the program its terminal changed size (it receives `SIGWINCH`).
    pub(crate) fn resize(&self, size: Size) -> io::Result<()> {
        Ok(rustix::termios::tcsetwinsize(
            self.master.get_ref(),
            size.winsize(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_program_on_the_terminal_sees_its_size_and_input_and_ends_the_stream() {
        let (pty, terminal) = open(Size {
            columns: 91,
            rows: 17,
        })
        .unwrap();
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", "stty size; read line; echo \"got $line\"; test -t 0"]);
        attach(&mut command, terminal).unwrap();
        let mut command = tokio::process::Command::from(command);
        let mut child = command.spawn().unwrap();
        drop(command);
        pty.write_all(b"hello\n").await.unwrap();
        let mut output = Vec::new();
        let mut buffer = [0u8; 1024];
        loop {
            let read = pty.read(&mut buffer).await.unwrap();
            if read == 0 {
                break;
            }
            output.extend_from_slice(&buffer[..read]);
        }
        let status = child.wait().await.unwrap();
        let text = String::from_utf8_lossy(&output);
        assert!(text.contains("17 91"), "{text:?}");
        assert!(text.contains("got hello"), "{text:?}");
        assert!(status.success(), "stdin is a terminal: {text:?}");
    }
}
