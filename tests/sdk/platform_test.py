"""What the official Daytona Python SDK calls beyond sandboxes, files and git, against
`ralph-town serve`: metrics over time, network settings, auto-pause, warm pools, unknown vault
secrets, computer use, language servers and the entrypoint session. What works locally must
work; what cannot must raise the SDK's own error class with a reason, and nothing may be half-made.

Run by `tests/serve_platform.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server. Any failure exits non-zero with a traceback.
"""

import uuid

from daytona import (
    CreateSandboxFromSnapshotParams,
    DaytonaBadRequestError,
    DaytonaNotFoundError,
    DaytonaUnprocessableEntityError,
    ListSandboxesQuery,
)

# The warm-pool and secret services raise their generated client's exceptions as they come.
from daytona_api_client.exceptions import NotFoundException, UnprocessableEntityException
from sdk_script import client, raises, run_script, stepper


step = stepper("sdk-platform")


def main():
    daytona = client()
    run = uuid.uuid4().hex[:8]
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(name=f"sdk-platform-{run}", labels={"platform": run})
    )

    step("metrics: one sample of each series")
    # Not sampled yet: the request takes the first sample, which falls within the SDK's default
    # `end` (its own now, just before the server's).
    samples = sandbox.get_metrics()
    assert len(samples) == 1, samples
    assert samples[0].cpu_count == 1 and samples[0].disk_total == 3 << 30, samples[0]
    assert samples[0].disk_used > 0, samples[0]

    step("network: domain allow lists are checked, recorded and changed")
    sandbox.update_network_settings(network_block_all=False)
    raises(
        DaytonaBadRequestError,
        lambda: daytona.create(
            CreateSandboxFromSnapshotParams(labels={"platform": run}, domain_allow_list="example.com,a b")
        ),
        "`a b`",
    )
    sandbox.update_network_settings(domain_allow_list="Example.com,*.daytona.io")
    assert daytona.get(sandbox.id).domain_allow_list == "example.com,*.daytona.io"
    sandbox.update_network_settings(network_block_all=False)
    assert daytona.get(sandbox.id).domain_allow_list is None
    raises(
        DaytonaBadRequestError,
        lambda: daytona.create(
            CreateSandboxFromSnapshotParams(labels={"platform": run}, secrets={"TOKEN": "vault-name"})
        ),
        "vault-name",
        "not found",
    )
    left = [s.id for s in daytona.list(ListSandboxesQuery(labels={"platform": run}))]
    assert left == [sandbox.id], f"a refused create left sandboxes behind: {left}"

    step("auto-pause, warm pools, secrets")
    raises(DaytonaUnprocessableEntityError, lambda: sandbox.set_auto_pause_interval(5), "Pausing")
    assert daytona.warm_pool.list() == []
    raises(
        UnprocessableEntityException,
        lambda: daytona.warm_pool.create("daytona-small", 2),
        "Warm pools",
    )
    # The vault itself is `tests/sdk/secrets_test.py`'s; here only what is refused.
    assert daytona.secret.list().items == []
    raises(NotFoundException, lambda: daytona.secret.get("nope"))
    sandbox.update_secrets({})
    raises(DaytonaBadRequestError, lambda: sandbox.update_secrets({"TOKEN": "vault"}), "not found")

    step("toolbox: language servers, the entrypoint")
    raises(
        DaytonaBadRequestError,
        lambda: sandbox.create_lsp_server("cobol", "project").start(),
        "unsupported language: cobol",
    )
    raises(DaytonaNotFoundError, sandbox.process.get_entrypoint_session, "entrypoint")

    sandbox.delete()
    step("done")


if __name__ == "__main__":
    run_script(main)
