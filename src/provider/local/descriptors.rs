//! Which descriptors a child process gets: none of what this process inherited, and exactly
//! the ones passed to it, at the numbers it expects (a keeper's status pipe and script, an
//! init's ready pipe, a network's tether). Both act between fork and exec.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;

/// Marks every descriptor above stderr close-on-exec in `command`'s child, so that nothing
/// this process inherited from its own caller (a CI runner's pipe) reaches a sandbox, or is
/// held open by an init long after. Register it before [`pass_descriptors`], whose
/// descriptors then survive. Kernels before 5.11 lack the call and pass what they pass.
pub(super) fn close_inherited(command: &mut std::process::Command) {
    // SAFETY: one system call with integer arguments between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3_u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
}

/// Gives `command`'s program each `(descriptor, number)` pair's descriptor (this process's,
/// close-on-exec) as that number.
pub(super) fn pass_descriptors<const N: usize>(
    command: &mut std::process::Command,
    targets: [(RawFd, RawFd); N],
) {
    // Out of the way first, above every target, so that no dup2 overwrites another's source
    // and no source is a target (a plain `dup` takes the lowest free number, which may be a
    // target: closing that copy after its dup2 would close the target).
    let above = targets
        .iter()
        .map(|(_, target)| target + 1)
        .max()
        .unwrap_or(0);
    // SAFETY: only async-signal-safe calls (fcntl, dup2, close) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let moved = targets.map(|(raw, _)| libc::fcntl(raw, libc::F_DUPFD, above));
            for (source, (_, target)) in moved.into_iter().zip(targets) {
                if source < 0 || libc::dup2(source, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(source);
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    use std::process::Stdio;

    use super::*;

    #[test]
    fn passed_descriptors_arrive_whichever_numbers_are_free_in_the_child() {
        use std::io::Read as _;
        // The numbers the child has free decide what a plain `dup` returns; each case frees
        // some before the descriptors are passed (a caller whose own 3 or 4 was closed).
        for (free, swapped) in [
            (&[3, 4][..], false),
            (&[3], false),
            (&[4, 5], true),
            (&[], false),
        ] {
            let (mut status_reader, status_writer) = io::pipe().unwrap();
            let (script_reader, mut script_writer) = io::pipe().unwrap();
            script_writer.write_all(b"script\n").unwrap();
            drop(script_writer);
            let ours = [status_writer.as_raw_fd(), script_reader.as_raw_fd()];
            let free: Vec<RawFd> = free
                .iter()
                .copied()
                .filter(|fd| !ours.contains(fd))
                .collect();
            let mut command = std::process::Command::new("/bin/sh");
            command.args(["-c", "cat <&5 && echo status >&3"]);
            // SAFETY: only close between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    for fd in &free {
                        libc::close(*fd);
                    }
                    Ok(())
                });
            }
            let status = (status_writer.as_raw_fd(), 3);
            let script = (script_reader.as_raw_fd(), 5);
            if swapped {
                pass_descriptors(&mut command, [script, status]);
            } else {
                pass_descriptors(&mut command, [status, script]);
            }
            let output = command.stderr(Stdio::piped()).output().unwrap();
            drop((status_writer, script_reader));
            let mut said = String::new();
            status_reader.read_to_string(&mut said).unwrap();
            let shown = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                "script\n",
                "{shown}"
            );
            assert_eq!(said, "status\n", "{shown}");
        }
    }
}
