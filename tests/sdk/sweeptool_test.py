"""Calls of the official Python SDK on a sandbox's toolbox (files, git, processes, the code
interpreter, language servers, computer use) that once failed against `ralph-town serve`,
one case per run (`SWEEP_CASE`), run by `tests/serve_sdk_sweeptool.rs`: each case asserts
what the SDK returns or raises, and prints `sweeptool: done` at the end.
"""

from daytona.common.errors import DaytonaNotFoundError

from sdk_script import fresh_sandbox, raises, run_case, stepper

step = stepper("sweeptool")


def find_in_one_file(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweeptool-find")
    fs = sandbox.fs
    home = sandbox.get_user_home_dir()
    fs.upload_file(b"foo1\nbar here\nfoo2 bar\n", "notes.txt")
    for path in ["notes.txt", f"{home}/notes.txt"]:
        step(f"find in the one file {path}")
        found = [(m.file, m.line, m.content) for m in fs.find_files(path, "bar")]
        assert found == [(path, 2, "bar here"), (path, 3, "foo2 bar")], found
    step("find in a folder names each file as the walk reaches it")
    fs.upload_file(b"bar\n", "sub/other.txt")
    found = [(m.file, m.line) for m in fs.find_files(home, "bar")]
    assert found == [(f"{home}/notes.txt", 2), (f"{home}/notes.txt", 3), (f"{home}/sub/other.txt", 1)], found
    step("the pattern is a text, not a regular expression")
    assert fs.find_files("notes.txt", "foo[0-9]") == []
    step("a start that looks like an option is reported as the request spelled it")
    fs.upload_file(b"bar\n", "-dash.txt")
    assert [m.file for m in fs.find_files("-dash.txt", "bar")] == ["-dash.txt"]
    assert fs.search_files("-dash.txt", "*.txt").files == ["-dash.txt"]
    sandbox.delete()


def interpreter_environment_persists(daytona):
    _, sandbox = fresh_sandbox(daytona, "sweeptool-env")
    interpreter = sandbox.code_interpreter
    context = interpreter.create_context()
    for where in [None, context]:
        name = "default" if where is None else "new"
        step(f"{name} context: what the code sets in os.environ stays for later runs")
        ran = interpreter.run_code("import os; os.environ['KEPT'] = 'yes'", context=where)
        assert ran.error is None, ran
        shown = interpreter.run_code("import os; print(os.environ.get('KEPT'))", context=where)
        assert shown.stdout == "yes\n", shown
        step(f"{name} context: a run's envs last for that run only")
        ran = interpreter.run_code(
            "import os; print(os.environ['KEPT'], os.environ['ONCE'])",
            context=where,
            envs={"KEPT": "for-now", "ONCE": "1"},
        )
        assert ran.stdout == "for-now 1\n", ran
        after = interpreter.run_code(
            "import os; print(os.environ['KEPT'], os.environ.get('ONCE'))", context=where
        )
        assert after.stdout == "yes None\n", after
    step("a syntax error names the code as Daytona's worker does")
    broken = interpreter.run_code("def (")
    assert broken.error.name == "SyntaxError" and "(<string>, line 1)" in broken.error.value, broken
    interpreter.delete_context(context)
    raises(DaytonaNotFoundError, lambda: interpreter.delete_context(context), "context not found")
    sandbox.delete()


CASES = {
    "find-in-one-file": find_in_one_file,
    "interpreter-env": interpreter_environment_persists,
}


run_case(CASES, "sweeptool: done")
