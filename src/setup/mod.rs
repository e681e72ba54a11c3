//! Setup: the script that makes a fresh sandbox a teammate's workspace.
