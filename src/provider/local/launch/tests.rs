use super::*;

fn dirs(root: &Path, user: SandboxUser) -> SandboxDirs {
    SandboxDirs {
        home: root.join("home"),
        tmp: root.join("tmp"),
        volumes: Vec::new(),
        layer: None,
        cpus: None,
        id: None,
        run_dir: None,
        hosts: None,
        network: None,
        memory: None,
        user,
    }
}

/// The bubblewrap command line of `id` in the sandbox of `dirs`, started in its home.
fn line(launcher: &Launcher, dirs: &SandboxDirs) -> String {
    let invocation = launcher.invocation(
        dirs,
        &Location::Home(PathBuf::new()),
        BTreeMap::new(),
        &["id"],
        true,
        SANDBOX,
    );
    let command = invocation.command().unwrap();
    command
        .get_args()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_root_sandbox_is_uid_0_with_its_home_at_root_and_at_home_daytona() {
    let root = tempfile::tempdir().unwrap();
    let bubblewrap: &'static Bubblewrap = Box::leak(Box::new(Bubblewrap::assumed("bwrap")));
    let launcher = Launcher::new(
        Isolating::Always(bubblewrap),
        HostUser::Invoker,
        &root.path().join("state"),
        Vec::new(),
    );
    let home = root.path().join("home").display().to_string();

    let sandbox = dirs(root.path(), SandboxUser::Root);
    let args = line(&launcher, &sandbox);
    assert!(
        args.starts_with("--unshare-user --uid 0 --gid 0 "),
        "{args}"
    );
    assert!(args.contains(&format!("--bind {home} /root ")), "{args}");
    assert!(
        args.contains(&format!("--bind {home} /home/daytona ")),
        "{args}"
    );
    assert!(args.ends_with("--chdir /root -- id"), "{args}");
    assert_eq!(launcher.home_value(&sandbox), "/root");
    for (path, relative) in [("/root/a/b", "a/b"), ("/home/daytona/a", "a"), ("a", "a")] {
        assert_eq!(
            launcher.locate(&sandbox, path),
            Location::Home(relative.into()),
            "{path}"
        );
    }

    let sandbox = dirs(root.path(), SandboxUser::Daytona);
    let args = line(&launcher, &sandbox);
    assert!(
        args.starts_with("--unshare-user --uid 1000 --gid 1000 "),
        "{args}"
    );
    assert!(!args.contains(&format!("{home} /root")), "{args}");
    assert!(args.ends_with("--chdir /home/daytona -- id"), "{args}");
    assert_eq!(launcher.home_value(&sandbox), "/home/daytona");
    assert_eq!(
        launcher.locate(&sandbox, "/root/a"),
        Location::Elsewhere("/root/a".into())
    );
}
