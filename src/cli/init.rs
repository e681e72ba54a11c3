//! `ralph-town init`: write a starter team file, its team named after the file's directory.

use std::io::Write;
use std::path::Path;

use super::args::InitArgs;
use crate::error::{Error, Result, exit};
use crate::team;

pub(super) fn run(args: &InitArgs) -> Result<i32> {
    let text = team::starter(args.provider, &directory_name(&args.file));
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        // `create_new` refuses atomically, so an existing file is never lost.
        options.create_new(true);
    }
    let mut file = options.open(&args.file).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Refused {
                message: format!("`{}` already exists", args.file.display()),
                hint: Some("pass `--force` to overwrite it".to_string()),
            }
        } else {
            Error::io(format!("cannot create `{}`", args.file.display()), error)
        }
    })?;
    file.write_all(text.as_bytes())
        .map_err(|error| Error::io(format!("cannot write `{}`", args.file.display()), error))?;
    super::out(&format!(
        "wrote `{}` (provider `{}`)\n",
        args.file.display(),
        args.provider
    ))?;
    eprintln!("next: `ralph-town up {}`", args.file.display());
    Ok(exit::SUCCESS)
}

/// The name of the directory `file` is in (resolving `.` and `..`); empty when it has none.
fn directory_name(file: &Path) -> String {
    let parent = file
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent
        .canonicalize()
        .ok()
        .and_then(|directory| directory.file_name().map(std::ffi::OsStr::to_os_string))
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
