"""The official Daytona Python SDK's language servers against `ralph-town serve`.

Run by `tests/serve_lsp.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an in-process
server, and LSP_SANDBOX_PATH: the `PATH` a sandbox needs to find `pylsp` and
`typescript-language-server` (the test's pinned installs, which every sandbox sees read-only).
For Python and for TypeScript: start a server on a project, open a real file written to the
sandbox, read its symbols, complete a real prefix, search the sandbox's symbols, close the file
and stop the server. Then a sandbox without the servers on its `PATH` gets the SDK's error
naming the program and how to install it. Each step asserts what the SDK returned.
"""

from daytona import DaytonaBadRequestError, DaytonaError, DaytonaInternalServerError
from daytona.common.lsp_server import LspCompletionPosition
from sdk_script import client, fresh_sandbox, raises, run_script, shell, stepper
import os

step = stepper("sdk-lsp")

PYTHON_SOURCE = '''import os


class Greeter:
    def greet(self, name):
        return "hello " + name


def shout(text):
    return text.upper()


os.pa'''

TYPESCRIPT_SOURCE = '''export class Greeter {
  greet(name: string): string {
    return "hello " + name;
  }
}

export function shout(text: string): string {
  return text.toUpperCase();
}

const message: string = "hi";
message.toU'''


def exercise(sandbox, language, file_name, source, greeter_line, completion_at, completion, workspace):
    """One language's round trip on a project in `sandbox`'s home."""
    home = sandbox.get_user_home_dir()
    project = f"{home}/{language}-project"
    path = f"{project}/{file_name}"
    shell(sandbox, f"mkdir -p {project}")
    sandbox.fs.upload_file(source.encode(), path)
    lsp = sandbox.create_lsp_server(language, project)

    step(f"{language}: start")
    lsp.start()
    lsp.start()  # a second start finds the running server

    step(f"{language}: did_open and document_symbols")
    lsp.did_open(path)
    symbols = lsp.document_symbols(path)
    names = {symbol.name for symbol in symbols}
    assert {"Greeter", "greet", "shout"} <= names, names
    greeter = next(symbol for symbol in symbols if symbol.name == "Greeter")
    assert greeter.kind == 5, greeter  # a class
    assert greeter.location.uri == f"file://{path}", greeter.location
    assert greeter.location.range.start.line == greeter_line, greeter.location

    step(f"{language}: completions")
    line, character = completion_at
    items = lsp.completions(path, LspCompletionPosition(line=line, character=character)).items
    labels = {item.label for item in items}
    assert completion in labels, sorted(labels)[:50]

    step(f"{language}: relative paths are below the project")
    assert {symbol.name for symbol in lsp.document_symbols(file_name)} == names

    step(f"{language}: sandbox_symbols")
    if workspace:
        found = lsp.sandbox_symbols("Greeter")
        assert any(symbol.name == "Greeter" and symbol.location.uri == f"file://{path}" for symbol in found), found
    else:
        # pylsp answers no `workspace/symbol` request: the daemon's 400 with the server's reason.
        raises(DaytonaBadRequestError, lambda: lsp.sandbox_symbols("Greeter"), "workspace/symbol")

    step(f"{language}: did_close and stop")
    lsp.did_close(path)
    lsp.stop()
    raises(DaytonaBadRequestError, lambda: lsp.document_symbols(path), "server not initialized")
    raises(DaytonaInternalServerError, lsp.stop, "error stopping LSP server")


def main():
    daytona = client()
    _, sandbox = fresh_sandbox(
        daytona, "lsp", env_vars={"PATH": os.environ["LSP_SANDBOX_PATH"]}
    )
    exercise(sandbox, "python", "app.py", PYTHON_SOURCE, 3, (12, 5), "path", workspace=False)
    exercise(sandbox, "typescript", "app.ts", TYPESCRIPT_SOURCE, 0, (11, 11), "toUpperCase", workspace=True)

    step("unknown language")
    lsp = sandbox.create_lsp_server("cobol", "/tmp")
    raises(DaytonaBadRequestError, lsp.start, "unsupported language: cobol")
    daytona.delete(sandbox)

    step("a sandbox without the servers")
    _, bare = fresh_sandbox(daytona, "lsp-bare")
    error = raises(
        DaytonaError,
        bare.create_lsp_server("python", "/tmp").start,
        "`pylsp` is not installed",
        "pip install python-lsp-server",
    )
    assert isinstance(error, DaytonaInternalServerError), type(error)
    raises(
        DaytonaInternalServerError,
        bare.create_lsp_server("typescript", "/tmp").start,
        "`typescript-language-server` is not installed",
        "npm install --global typescript-language-server typescript",
    )
    daytona.delete(bare)
    step("done")


run_script(main)
