//! The Dockerfile parser's rules, instruction by instruction.

use super::*;

#[test]
fn the_default_recipe_parses() {
    let steps = parse(crate::sandbox::default_dockerfile()).expect("parses");
    assert_eq!(
        steps[0].instruction,
        Instruction::From {
            image: "debian:bookworm-slim".into(),
            name: None,
        }
    );
    assert!(
        steps
            .iter()
            .any(|step| step.instruction == Instruction::Workdir("/home/daytona".into()))
    );
    let runs = steps
        .iter()
        .filter(|step| matches!(step.instruction, Instruction::Run(_)))
        .count();
    assert_eq!(runs, 6);
}

#[test]
fn continuations_comments_and_forms() {
    let steps = parse(
        "FROM node:22 AS base\n# a comment\nRUN echo a \\\n  # inside\n  && echo b\nRUN [\"/bin/echo\", \"x y\"]\nENV A=1 B=\"two words\"\nENV OLD some value\nCOPY --chown=1:1 [\"src dir\", \"/dst/\"]\nCMD [\"x\"]\n",
    )
    .expect("parses");
    assert_eq!(
        steps[1].instruction,
        Instruction::Run(Command::Shell("echo a && echo b".into()))
    );
    assert_eq!(steps[1].line, 3);
    assert_eq!(
        steps[2].instruction,
        Instruction::Run(Command::Exec(vec!["/bin/echo".into(), "x y".into()]))
    );
    assert_eq!(
        steps[3].instruction,
        Instruction::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "two words".into())
        ])
    );
    assert_eq!(
        steps[4].instruction,
        Instruction::Env(vec![("OLD".into(), "some value".into())])
    );
    assert_eq!(
        steps[5].instruction,
        Instruction::Copy {
            sources: vec!["src dir".into()],
            destination: "/dst/".into(),
            add: false,
            ignored: vec!["--chown=1:1".into()],
            from: None,
        }
    );
    assert_eq!(steps[6].instruction, Instruction::Metadata("CMD".into()));
}

#[test]
fn entrypoints_take_docker_s_exec_and_shell_forms() {
    let steps = parse(
        "FROM a:1\nENTRYPOINT [\"sleep\", \"infinity\"]\nENTRYPOINT echo \"$HOME\" >&2\nENTRYPOINT []\nENTRYPOINT [not json\n",
    )
    .unwrap();
    let entrypoint = |index: usize| match &steps[index].instruction {
        Instruction::Entrypoint(command) => command.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        entrypoint(1),
        Command::Exec(vec!["sleep".into(), "infinity".into()])
    );
    assert_eq!(entrypoint(2), Command::Shell("echo \"$HOME\" >&2".into()));
    assert_eq!(entrypoint(3), Command::Exec(Vec::new()));
    // Not JSON: Docker runs it as a shell command line.
    assert_eq!(entrypoint(4), Command::Shell("[not json".into()));
    assert!(parse("FROM a:1\nENTRYPOINT\n").is_err());
}

#[test]
fn what_cannot_be_built_names_its_line() {
    assert!(parse("RUN true\n").unwrap_err().message.contains("FROM"));
    let image = parse("FROM a:1\nCOPY --from=alpine:3 /a /b\n").unwrap_err();
    assert_eq!(image.line, 2);
    assert!(image.message.contains("images cannot be pulled"), "{image}");
    let own = parse("FROM a:1 AS one\nCOPY --from=one /a /b\n").unwrap_err();
    assert!(own.message.contains("earlier stage"), "{own}");
    assert!(parse("FROM a AS x\nFROM b AS X\n").is_err());
    assert!(parse("FROM a AS\n").is_err());
    assert!(
        parse("FROM a:1\nFROBNICATE\n")
            .unwrap_err()
            .message
            .contains("FROBNICATE")
    );
    assert!(parse("FROM a:1\nRUN <<EOF\necho\nEOF\n").is_err());
}

#[test]
fn stages_are_named_and_copies_name_earlier_ones() {
    let steps = parse(
        "FROM a:1 AS Build\nRUN make\nFROM b:2\nFROM c:3\nCOPY --from=build /out /x\nCOPY --from=1 /y /z\nCOPY ctx /w\n",
    )
    .unwrap();
    assert_eq!(
        steps[0].instruction,
        Instruction::From {
            image: "a:1".into(),
            name: Some("build".into())
        }
    );
    let froms: Vec<_> = steps
        .iter()
        .filter_map(|step| match &step.instruction {
            Instruction::Copy { from, .. } => Some(*from),
            _ => None,
        })
        .collect();
    assert_eq!(froms, [Some(0), Some(1), None]);
}

#[test]
fn variables_expand_as_docker_does() {
    let variables = BTreeMap::from([
        ("HOME".to_string(), "/root".to_string()),
        ("EMPTY".to_string(), String::new()),
    ]);
    assert_eq!(
        expand("$HOME/bin:${HOME}/x", &variables),
        "/root/bin:/root/x"
    );
    assert_eq!(expand("${MISSING:-dflt} ${EMPTY:-e}", &variables), "dflt e");
    assert_eq!(expand("${HOME:+set}${MISSING:+no}", &variables), "set");
    assert_eq!(expand("\\$HOME $1", &variables), "$HOME $1");
}
