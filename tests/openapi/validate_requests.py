"""Checks recorded HTTP exchanges against Daytona's OpenAPI 3.0 contract: what a client sent,
and what `ralph-town serve` answered.

Usage: validate_requests.py CONTROL_SPEC TOOLBOX_SPEC RECORDS_JSON

RECORDS_JSON is a list of {"method", "target" (path and query), "content_type",
"header_names", "body_hex", "response"?: {"status", "content_type", "body_hex"}}. Paths under
`/api` are looked up in the control-plane spec, paths under `/toolbox/{sandboxId}` in the
toolbox spec.

Requests: the operation exists for that method and path template, path and query parameters
have the declared types, required parameters are present, no undeclared query parameter is
sent, and the body matches the requestBody (JSON through `jsonschema`, multipart by part names).

Responses: a success status is one the operation declares, and a JSON body matches that
response's schema; an error status (4xx, 5xx) carries Daytona's error body for its side (the
API's `{path, timestamp, statusCode, error, message}`, the daemon's `{statusCode, message,
code, timestamp, path, method, source}`), since the specs declare almost no error responses.

Declared-but-not-required properties are allowed; undeclared JSON properties are reported
too (stricter than the spec's default `additionalProperties`) except for what the current API
added after the v0.190 spec (NOTES.md section 10), each listed below with the reason: fields
(NEWER_FIELDS), query parameters (NEWER_QUERY), operations (NEWER_*_OPERATIONS) and statuses
(OTHER_STATUSES).

Before validating, the script checks itself on exchanges it knows are invalid, so a validator
that accepts everything cannot pass. Prints one line per invalid exchange and exits 1 when
there is any; never prints header values or bodies.
"""

import json
import re
import sys
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import yaml

# Fields of the current Cloud API missing from the v0.190 spec (NOTES.md section 10), and
# fields of answers the pinned Python SDK reads that the v0.190 spec lacks.
NEWER_FIELDS = {
    "CreateSandbox": {
        "ttlMinutes",
        "secrets",
        "autoPauseInterval",
        "kvm",
        "spot",
        "outboundProxyUrl",
        "otelEndpointOverride",
        "queueTimeout",
    },
    # The SDK requires `kvm` (NOTES section 9); `autoDestroyAt` is when `ttlMinutes` ends; the
    # current API returns what a create recorded of the newer fields.
    "Sandbox": {"kvm", "autoDestroyAt", "outboundProxyUrl", "otelEndpointOverride", "queueTimeout"},
    # The SDK's `list()` requires `networkBlockAll` on list items (NOTES section 9).
    "SandboxListItem": {"networkBlockAll", "autoDestroyAt"},
    # The SDK reads each entry's full path (NOTES section 9).
    "FileInfo": {"path"},
    # The current daemon's status says whether HEAD is detached and names the upstream.
    "GitStatus": {"detached", "upstream"},
    # ...and its branch list names the checked-out branch.
    "ListBranchResponse": {"current"},
    # The sandbox a snapshot was made from: required (nullable) by the pinned SDK's model.
    "SnapshotDto": {"sourceSandboxId"},
    # The pinned SDKs require the storage region to upload build contexts.
    "StorageAccessDto": {"region"},
    # Push and pull take a branch and a remote, push an upstream flag (the SDK sends them).
    "GitRepoRequest": {"branch", "remote", "set_upstream"},
    # The pinned SDK's model requires the identity provider's name.
    "OidcConfig": {"provider"},
}

# Query parameters of the current API missing from the v0.190 spec: (method, template) -> names.
NEWER_QUERY = {
    # The SDK's `list_files(path, depth)` lists deeper than one level.
    ("get", "/files"): {"depth"},
    # A signed download URL (`sandbox.download_url`) carries its expiry and signature.
    ("get", "/files/download"): {"expires", "signature"},
}

# Statuses the real API answers that the v0.190 spec does not declare: (method, template) ->
# {status: reason}.
OTHER_STATUSES = {
    # The spec documents WebSocket streaming (`follow=true`) but only the 200: the upgrade is 101.
    ("get", "/process/session/{sessionId}/command/{commandId}/logs"): {
        101: "WebSocket upgrade (follow)"
    },
    ("post", "/sandbox/{sandboxIdOrName}/autostop/{interval}"): {201: "no @HttpCode(200)"},
    ("post", "/sandbox/{sandboxIdOrName}/autoarchive/{interval}"): {201: "no @HttpCode(200)"},
    ("post", "/sandbox/{sandboxIdOrName}/autodelete/{interval}"): {201: "no @HttpCode(200)"},
    ("post", "/sandbox/{sandboxIdOrName}/public/{isPublic}"): {201: "no @HttpCode(200)"},
}

# Answers whose body is another schema than the spec says: (method, template) -> schema name.
OTHER_SCHEMAS = {
    # The spec says `SandboxLabels`; the code returns the whole sandbox (NOTES section 2).
    ("put", "/sandbox/{sandboxIdOrName}/labels"): "Sandbox",
}


def sandbox_answer(status):
    return {
        "responses": {
            str(status): {
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Sandbox"}}
                }
            }
        }
    }


def json_body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def json_answer(status, schema):
    return {"responses": {str(status): {"content": {"application/json": {"schema": schema}}}}}


def obj(required=(), **properties):
    """A closed JSON object schema."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": properties,
    }


STRING, BOOLEAN = {"type": "string"}, {"type": "boolean"}
STRINGS = {"type": "array", "items": STRING}


def query(*names, required=()):
    return [
        {"in": "query", "name": name, "required": name in required, "schema": STRING}
        for name in names
    ]


def no_content(status):
    return {"responses": {str(status): {"description": "no content"}}}


# Daytona's `Secret` (the pinned SDK's model): never a `value`.
SECRET = obj(
    ["id", "name", "placeholder", "hosts", "createdAt", "updatedAt"],
    id=STRING,
    name=STRING,
    description={"type": ["string", "null"]},
    placeholder=STRING,
    hosts=STRINGS,
    createdAt=STRING,
    updatedAt=STRING,
)

# Control-plane routes of the current API missing from the v0.190 spec, as the pinned SDKs'
# generated clients (`daytona_api_client`) send and read them.
NEWER_CONTROL_OPERATIONS = {
    # The pinned SDK's `set_ttl`: destroy so many minutes from now; 201 like the other timers.
    ("post", "/sandbox/{sandboxIdOrName}/ttl/{ttlMinutes}"): sandbox_answer(201),
    # `sandbox.set_auto_pause_interval`.
    ("post", "/sandbox/{sandboxIdOrName}/autopause/{interval}"): sandbox_answer(200),
    # The key signed file URLs are made with (`download_url`, `upload_url`): a JSON string.
    ("get", "/sandbox/{sandboxId}/signing-key"): json_answer(200, STRING),
    ("post", "/sandbox/{sandboxId}/signing-key/rotate"): json_answer(200, STRING),
    # `sandbox.update_secrets`: maps of an env var name to a vault secret name.
    ("put", "/sandbox/{sandboxIdOrName}/secrets"): {
        **sandbox_answer(200),
        "requestBody": json_body(
            obj(["secrets"], secrets={"type": "array", "items": {"type": "object", "additionalProperties": STRING}})
        ),
    },
    # `daytona.warm_pool.*`.
    ("get", "/warm-pools"): json_answer(200, {"type": "array"}),
    ("post", "/warm-pools"): {
        **json_answer(201, {"type": "object"}),
        "requestBody": json_body(
            obj(["snapshot", "pool"], snapshot=STRING, pool={"type": "number"}, target=STRING)
        ),
    },
    # `daytona.secret.*`: the organisation's vault. A secret's value is write-only: no answer
    # carries it.
    ("post", "/secret"): {
        **json_answer(201, SECRET),
        "requestBody": json_body(
            obj(["name", "value"], name=STRING, value=STRING, description=STRING, hosts=STRINGS)
        ),
    },
    ("get", "/secret"): json_answer(200, {"type": "array", "items": SECRET}),
    ("get", "/secret/{secretId}"): json_answer(200, SECRET),
    ("patch", "/secret/{secretId}"): {
        **json_answer(200, SECRET),
        "requestBody": json_body(obj([], value=STRING, description=STRING, hosts=STRINGS)),
    },
    ("delete", "/secret/{secretId}"): no_content(204),
    ("get", "/secret/paginated"): {
        **json_answer(
            200,
            obj(
                ["items", "total", "nextCursor"],
                items={"type": "array", "items": SECRET},
                total={"type": "integer"},
                nextCursor={"type": ["string", "null"]},
            ),
        ),
        "parameters": query("cursor", "limit", "name", "sort", "order"),
    },
    # Daytona's egress layer resolves a sandbox's placeholders here, values included; serve's
    # proxy is in-process, so the route answers the mounts without `value` (which is optional).
    ("get", "/sandbox/{sandboxId}/secrets"): json_answer(
        200,
        {
            "type": "array",
            "items": obj(["env", "placeholder", "hosts"], env=STRING, placeholder=STRING, hosts=STRINGS),
        },
    ),
}

# The current daemon's git routes beyond v0.190 (`apps/daemon/pkg/toolbox/git/types.go`), as the
# pinned SDKs' `sandbox.git.*` send them.
def body_only(status, required, **properties):
    """An operation that takes a closed JSON body and answers `status` without one."""
    return {**no_content(status), "requestBody": json_body(obj(required, **properties))}


NEWER_GIT_OPERATIONS = {
    ("post", "/git/init"): body_only(201, ["path"], path=STRING, bare=BOOLEAN, initial_branch=STRING),
    ("post", "/git/reset"): body_only(
        200, ["path"], path=STRING, mode=STRING, target=STRING, files=STRINGS
    ),
    ("post", "/git/restore"): body_only(
        200,
        ["path", "files"],
        path=STRING,
        files=STRINGS,
        staged=BOOLEAN,
        worktree=BOOLEAN,
        source=STRING,
    ),
    ("post", "/git/remotes"): body_only(
        201, ["path", "name", "url"], path=STRING, name=STRING, url=STRING, fetch=BOOLEAN, overwrite=BOOLEAN
    ),
    ("get", "/git/remotes"): {
        **json_answer(
            200,
            obj(["remotes"], remotes={"type": "array", "items": obj(["name", "url"], name=STRING, url=STRING)}),
        ),
        "parameters": query("path", required=("path",)),
    },
    # An unset key has no `value` (the daemon's `omitempty`).
    ("get", "/git/config"): {
        **json_answer(200, obj([], value=STRING)),
        "parameters": query("key", "path", "scope", required=("key",)),
    },
    ("post", "/git/config"): body_only(
        200, ["key", "value"], key=STRING, value=STRING, path=STRING, scope=STRING
    ),
    ("post", "/git/config/user"): body_only(
        200, ["name", "email"], name=STRING, email=STRING, path=STRING, scope=STRING
    ),
    ("post", "/git/credentials"): body_only(
        200, ["username", "password"], username=STRING, password=STRING, host=STRING, protocol=STRING
    ),
}

# Toolbox routes of the current Cloud API missing from the v0.190 toolbox spec (NOTES.md
# section 10): `POST /env` with `{"set": {K: V}, "unset": [K]}` changes the daemon's
# environment for processes started later.
NEWER_TOOLBOX_OPERATIONS = {
    **NEWER_GIT_OPERATIONS,
    # The current SDKs' upload (`upload_url` signs it): multipart `file` or a raw body.
    ("post", "/files/upload-v2"): {
        **json_answer(200, obj(["name", "path", "type"], name=STRING, path=STRING, type=STRING)),
        "parameters": query("path", "expires", "signature", required=("path",)),
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": obj(["file"], file={"type": "string", "format": "binary"})
                },
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
    ("post", "/env"): {
        # The pinned SDK reads the answer as `Dict[str, str]`.
        "responses": {
            "200": {
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                    }
                }
            }
        },
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "set": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "unset": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                }
            },
        },
    },
    # The pinned SDK's `get_metrics_latest`: one resource sample (`SystemMetrics`).
    ("get", "/system/metrics"): {
        "responses": {
            "200": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                **{
                                    name: {"type": "integer"}
                                    for name in (
                                        "cpuCount",
                                        "diskFree",
                                        "diskTotal",
                                        "diskUsed",
                                        "memCache",
                                        "memTotal",
                                        "memUsed",
                                        "timestampUnix",
                                    )
                                },
                                "cpuUsedPct": {"type": "number"},
                                "timestamp": {"type": "string"},
                            },
                        }
                    }
                }
            }
        }
    },
}

# The error bodies (NOTES.md sections 4 and 6); the daemon's `source` is newer than v0.190.
API_ERROR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path", "timestamp", "statusCode", "error", "message"],
    "properties": {
        "path": {"type": "string", "pattern": "^/api/"},
        "timestamp": {"type": "string"},
        "statusCode": {"type": "integer"},
        "error": {"type": "string"},
        "message": {"type": "string"},
    },
}
DAEMON_ERROR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["statusCode", "message", "code", "timestamp", "path", "method", "source"],
    "properties": {
        "statusCode": {"type": "integer"},
        "message": {"type": "string"},
        "code": {"type": "string", "pattern": "^[A-Z_]+$"},
        "timestamp": {"type": "string"},
        "path": {"type": "string"},
        "method": {"type": "string"},
        "source": {"const": "DAYTONA_DAEMON"},
    },
}


# The toolbox spec declares no body for `POST /files/bulk-upload` (its generator could not
# describe it). The control-plane spec's copy of the route (`/toolbox/{sandboxId}/toolbox/
# files/bulk-upload`) does: a multipart array of `UploadFile {file, path}`, sent as parts
# `files[i].path` and `files[i].file` (NOTES.md, toolbox files).
TOOLBOX_BODY_GAPS = {
    ("post", "/files/bulk-upload"): {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "path": {"type": "string"},
                            },
                            "required": ["file", "path"],
                        },
                    }
                }
            },
        }
    },
}


class NoDates(yaml.SafeLoader):
    """Keeps timestamps as strings: schemas are JSON, and examples hold dates."""


NoDates.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path):
    with open(path, encoding="utf-8") as file:
        return yaml.load(file, Loader=NoDates)


def to_json_schema(schema, name=None):
    """OpenAPI 3.0 schema object -> JSON Schema draft 7; undeclared properties become errors."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: to_json_schema(value) for key, value in schema.items()}
    for key in ("example", "examples", "xml", "externalDocs", "discriminator", "deprecated"):
        converted.pop(key, None)
    for bound in ("Minimum", "Maximum"):
        exclusive = "exclusive" + bound
        if isinstance(converted.get(exclusive), bool):
            if converted.pop(exclusive) and bound.lower() in converted:
                converted[exclusive] = converted.pop(bound.lower())
    if "properties" in converted and "additionalProperties" not in converted:
        extra = NEWER_FIELDS.get(name, set())
        for field in extra:
            converted["properties"].setdefault(field, {})
        converted["additionalProperties"] = False
    if converted.pop("nullable", False):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = list(converted["enum"]) + [None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


class Spec:
    def __init__(self, document, extra_operations=None):
        self.paths = document["paths"]
        schemas = document.get("components", {}).get("schemas", {})
        self.components = {
            "schemas": {name: to_json_schema(schema, name) for name, schema in schemas.items()}
        }
        self.extra = extra_operations or {}
        extra_paths = sorted({template for _, template in self.extra})
        self.extra_templates = [(template, pattern(template)) for template in extra_paths]
        # Literal segments first, so `/sandbox/paginated` wins over `/sandbox/{id}`.
        templates = sorted(self.paths, key=lambda template: (template.count("{"), template))
        self.templates = [(template, pattern(template)) for template in templates]

    def validator(self, schema):
        document = {"allOf": [to_json_schema(schema)], "components": self.components}
        return jsonschema.Draft7Validator(document)

    def operation(self, method, path):
        """(operation, path parameter values, path-level parameters, template) or a reason."""
        for template, (regex, names) in self.extra_templates:
            match = regex.fullmatch(path)
            if match and (method, template) in self.extra:
                values = {names[int(key[1:])]: value for key, value in match.groupdict().items()}
                # A gap filled in a declared operation keeps the rest of the declaration.
                declared = self.paths.get(template, {}).get(method, {})
                return {**declared, **self.extra[(method, template)]}, values, [], template
        for template, (regex, names) in self.templates:
            match = regex.fullmatch(path)
            if match and method in self.paths[template]:
                item = self.paths[template]
                values = {names[int(key[1:])]: value for key, value in match.groupdict().items()}
                return item[method], values, item.get("parameters", []), template
        return f"no `{method.upper()}` operation matches `{path}`"


def pattern(template):
    names = []

    def group(match):
        names.append(match.group(1))
        return f"(?P<p{len(names) - 1}>[^/]+)"

    regex = re.sub(r"\\\{([^}]+)\\\}", group, re.escape(template))
    return re.compile(regex), names


def coerce(value, schema, spec):
    """A query or path string, read as the parameter's declared type."""
    if "$ref" in schema:
        schema = spec.components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def check_parameters(spec, operation, path_level, path_values, query, headers, newer=()):
    problems = []
    declared = {}
    for parameter in path_level + operation.get("parameters", []):
        declared[(parameter["in"], parameter["name"])] = parameter
    for (where, name), parameter in declared.items():
        schema = parameter.get("schema", {})
        if where == "path":
            values = [path_values[name]] if name in path_values else []
        elif where == "query":
            values = [value for key, value in query if key == name]
        elif where == "header":
            values = ["?"] if name.lower() in headers else []
            schema = {}
        else:
            continue
        if not values:
            if parameter.get("required"):
                problems.append(f"required {where} parameter `{name}` is missing")
            continue
        if schema.get("type") == "array":
            instance = [coerce(value, schema.get("items", {}), spec) for value in values]
        elif len(values) > 1:
            problems.append(f"{where} parameter `{name}` is sent {len(values)} times")
            continue
        else:
            instance = coerce(values[0], schema, spec)
        for error in spec.validator(schema).iter_errors(instance):
            problems.append(f"{where} parameter `{name}`: {error.message}")
    for key in sorted({key for key, _ in query}):
        if ("query", key) not in declared and key not in newer:
            problems.append(f"undeclared query parameter `{key}`")
    return problems


def check_body(spec, operation, content_type, body):
    request_body = operation.get("requestBody")
    if request_body is None:
        return [] if not body else [f"a body of {len(body)} bytes where the spec takes none"]
    if not body:
        return ["the required body is missing"] if request_body.get("required") else []
    media = (content_type or "").split(";")[0].strip().lower()
    content = request_body.get("content", {})
    if media not in content:
        return [f"content type `{media}` is not one of {sorted(content)}"]
    schema = content[media].get("schema", {})
    if media == "application/json":
        try:
            instance = json.loads(body)
        except ValueError as error:
            return [f"the body is not JSON: {error}"]
        return [
            f"body{''.join(f'[{part!r}]' for part in error.absolute_path)}: {error.message}"
            for error in spec.validator(schema).iter_errors(instance)
        ]
    if media == "multipart/form-data":
        return check_multipart(spec, schema, content_type, body)
    return []


def check_multipart(spec, schema, content_type, body):
    if "$ref" in schema:
        schema = spec.components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    header = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not message.is_multipart():
        return ["the multipart body has no parts"]
    names = [part.get_param("name", header="content-disposition") for part in message.iter_parts()]
    if schema.get("type") == "array":
        return check_multipart_array(schema["items"], names)
    properties = schema.get("properties", {})
    problems = [f"undeclared multipart part `{name}`" for name in names if name not in properties]
    problems += [
        f"required multipart part `{name}` is missing"
        for name in schema.get("required", [])
        if name not in names
    ]
    return problems


def check_multipart_array(item, names):
    """An array of objects in a form: parts `files[i].field`, every item whole."""
    problems, items = [], {}
    for name in names:
        match = re.fullmatch(r"files\[(\d+)\]\.(\w+)", name or "")
        if not match or match.group(2) not in item.get("properties", {}):
            problems.append(f"undeclared multipart part `{name}`")
            continue
        items.setdefault(match.group(1), set()).add(match.group(2))
    if not items:
        problems.append("the multipart array has no items")
    for index, fields in sorted(items.items()):
        problems += [
            f"multipart item {index} lacks `{field}`"
            for field in item.get("required", [])
            if field not in fields
        ]
    return problems


def locate(specs, record):
    """(spec name, spec, path inside it) or a reason."""
    path = urlsplit(record["target"]).path
    if path.startswith("/api/"):
        return "control", specs["control"], path[len("/api") :]
    if match := re.fullmatch(r"/toolbox/[^/]+(/.*)", path):
        return "toolbox", specs["toolbox"], match.group(1)
    return f"`{path}` is neither under `/api` nor under `/toolbox/{{sandboxId}}`"


def check(specs, record):
    """Every reason the request of `record` breaks the contract (empty when it keeps it)."""
    method = record["method"].lower()
    target = urlsplit(record["target"])
    body = bytes.fromhex(record.get("body_hex", ""))
    located = locate(specs, record)
    if isinstance(located, str):
        return [located]
    _, spec, path = located
    found = spec.operation(method, path)
    if isinstance(found, str):
        return [found]
    operation, path_values, path_level, template = found
    query = parse_qsl(target.query, keep_blank_values=True)
    headers = {name.lower() for name in record.get("header_names", [])}
    newer = NEWER_QUERY.get((method, template), set())
    problems = check_parameters(spec, operation, path_level, path_values, query, headers, newer)
    return problems + check_body(spec, operation, record.get("content_type"), body)


def json_problems(validator, body, where):
    try:
        instance = json.loads(body)
    except ValueError as error:
        return [f"the {where} is not JSON: {error}"]
    return [
        f"{where}{''.join(f'[{part!r}]' for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def check_response(specs, record):
    """Every reason the answer of `record` breaks the contract (empty when it keeps it)."""
    response = record.get("response")
    if response is None:
        return []
    located = locate(specs, record)
    if isinstance(located, str):
        return [located]
    side, spec, path = located
    method = record["method"].lower()
    found = spec.operation(method, path)
    if isinstance(found, str):
        return [f"answered {response['status']} to an unknown operation"]
    operation, _, _, template = found
    status = response["status"]
    body = bytes.fromhex(response.get("body_hex", ""))
    media = (response.get("content_type") or "").split(";")[0].strip().lower()
    if status >= 400:
        schema = DAEMON_ERROR if side == "toolbox" else API_ERROR
        if media != "application/json":
            return [f"error {status} answered as `{media}`, not JSON"]
        return json_problems(jsonschema.Draft7Validator(schema), body, f"error {status} body")
    declared = operation.get("responses", {})
    answer = declared.get(str(status))
    if answer is None:
        other = OTHER_STATUSES.get((method, template), {})
        if status not in other:
            return [f"status {status} is not one of {sorted(declared)}"]
        if status == 101:
            # A WebSocket took over the connection: there is no body to check.
            return []
        answer = next(iter(declared.values()), {})
    content = answer.get("content") or {}
    # Plain text where the spec allows it (logs for SDKs that ask for the old form).
    if media == "text/plain" and "text/plain" in content:
        return []
    if (method, template) in OTHER_SCHEMAS:
        content = {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{OTHER_SCHEMAS[(method, template)]}"}
            }
        }
    if "application/json" in content and content["application/json"].get("schema"):
        if media != "application/json":
            return [f"a JSON answer sent as `{media}`"]
        schema = content["application/json"]["schema"]
        return json_problems(spec.validator(schema), body, "answer")
    if content and media and not any(media == kind.split(";")[0] for kind in content):
        if not ("*/*" in content or media.startswith("multipart/")):
            return [f"answer type `{media}` is not one of {sorted(content)}"]
    return []


def record(method, target, body=None, content_type="application/json"):
    raw = json.dumps(body).encode() if body is not None else b""
    return {"method": method, "target": target, "content_type": content_type, "body_hex": raw.hex()}


def multipart(target, names):
    boundary = "b0undary"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\nx\r\n'
        for name in names
    )
    body = f"{parts}--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    return {"method": "POST", "target": target, "content_type": content_type, "body_hex": body.hex()}


def answered(record_, status, body=None, content_type="application/json"):
    raw = json.dumps(body).encode() if body is not None else b""
    return {**record_, "response": {"status": status, "content_type": content_type, "body_hex": raw.hex()}}


SANDBOX = {
    "id": "s", "organizationId": "o", "name": "n", "user": "daytona", "env": {}, "labels": {},
    "public": False, "networkBlockAll": False, "kvm": False, "target": "local", "cpu": 1,
    "gpu": 0, "memory": 1, "disk": 3, "toolboxProxyUrl": "http://x/toolbox", "state": "started",
}
API_ERROR_BODY = {
    "path": "/api/sandbox/x", "timestamp": "t", "statusCode": 404, "error": "Not Found",
    "message": "Sandbox with ID or name x not found",
}
DAEMON_ERROR_BODY = {
    "statusCode": 404, "message": "x: no such file or directory", "code": "FILE_NOT_FOUND",
    "timestamp": "t", "path": "/files/info", "method": "GET", "source": "DAYTONA_DAEMON",
}


def self_check_responses(specs):
    get = record("GET", "/api/sandbox/x")
    info = record("GET", "/toolbox/x/files/info?path=a")
    without_id = {key: value for key, value in SANDBOX.items() if key != "id"}
    must_fail = {
        "a sandbox without its id": answered(get, 200, without_id),
        "a sandbox with an undeclared field": answered(get, 200, {**SANDBOX, "extra": 1}),
        "an undeclared success status": answered(get, 204),
        "an API error without its path": answered(
            get, 404, {k: v for k, v in API_ERROR_BODY.items() if k != "path"}
        ),
        "a daemon error without its source": answered(
            info, 404, {k: v for k, v in DAEMON_ERROR_BODY.items() if k != "source"}
        ),
        "a daemon error answered with the API body": answered(info, 404, API_ERROR_BODY),
        "an SSH validation with a null sandbox": answered(
            record("GET", "/api/sandbox/ssh-access/validate?token=t"),
            200,
            {"valid": False, "sandboxId": None},
        ),
        "an empty update_env answer": answered(
            record("POST", "/toolbox/x/env", {"set": {}}), 200, None, "text/plain"
        ),
    }
    must_pass = {
        "a sandbox": answered(get, 200, SANDBOX),
        "an API error": answered(get, 404, API_ERROR_BODY),
        "a daemon error": answered(info, 404, DAEMON_ERROR_BODY),
        "autostop's 201": answered(record("POST", "/api/sandbox/x/autostop/5"), 201, SANDBOX),
        "labels answered with the sandbox": answered(
            record("PUT", "/api/sandbox/x/labels", {"labels": {}}), 200, SANDBOX
        ),
    }
    failures = [
        f"accepted {name}" for name, bad in must_fail.items() if not check_response(specs, bad)
    ]
    for name, good in must_pass.items():
        failures += [f"rejected {name}: {problem}" for problem in check_response(specs, good)]
    return failures


def self_check(specs):
    """The validator rejects what it must; a silent validator would make the test useless."""
    must_fail = {
        "labels as a list": record("POST", "/api/sandbox", {"name": "x", "labels": ["a"]}),
        "an undeclared field": record("POST", "/api/sandbox", {"name": "x", "labelz": {}}),
        "an unknown route": record("POST", "/api/sandbox/x/teleport"),
        "a string timeout": record(
            "POST", "/toolbox/x/process/execute", {"command": "true", "timeout": "5"}
        ),
        "a missing command": record("POST", "/toolbox/x/process/execute", {"cwd": "/"}),
        "a missing required query": record("GET", "/toolbox/x/files/download"),
        "a non-numeric path interval": record("POST", "/api/sandbox/x/autostop/soon"),
        "an undeclared query": record("GET", "/api/sandbox?label=a"),
        "a list in env": record("POST", "/toolbox/x/env", {"set": {"A": "1"}, "unset": "A"}),
        "a misnamed upload part": multipart("/toolbox/x/files/upload?path=a", ["data"]),
        "a bulk item without a path": multipart("/toolbox/x/files/bulk-upload", ["files[0].file"]),
        "a git init without its path": record("POST", "/toolbox/x/git/init", {"bare": True}),
        "an undeclared reset field": record("POST", "/toolbox/x/git/reset", {"path": "a", "hard": True}),
        "a config read without its key": record("GET", "/toolbox/x/git/config?scope=global"),
    }
    must_pass = {
        "a plain create": record("POST", "/api/sandbox", {"name": "x", "labels": {"a": "b"}}),
        "a create with ttlMinutes": record("POST", "/api/sandbox", {"name": "x", "ttlMinutes": 5}),
        "a listing by labels": record("GET", "/api/sandbox?labels=%7B%7D"),
        "an upload": multipart("/toolbox/x/files/upload?path=a", ["file"]),
        "a bulk upload": multipart(
            "/toolbox/x/files/bulk-upload", ["files[0].path", "files[0].file"]
        ),
        "a signed download": record("GET", "/toolbox/x/files/download?path=a&expires=0&signature=v1_x"),
        "a signed upload": multipart("/toolbox/x/files/upload-v2?path=a&expires=0&signature=v1_x", ["file"]),
        "a git restore": record("POST", "/toolbox/x/git/restore", {"path": "a", "files": ["f"], "staged": True}),
    }
    failures = [f"accepted {name}" for name, bad in must_fail.items() if not check(specs, bad)]
    for name, good in must_pass.items():
        failures += [f"rejected {name}: {problem}" for problem in check(specs, good)]
    return failures + self_check_responses(specs)


def main(control, toolbox, records_path):
    toolbox_spec = Spec(load(toolbox), {**NEWER_TOOLBOX_OPERATIONS, **TOOLBOX_BODY_GAPS})
    specs = {"control": Spec(load(control), NEWER_CONTROL_OPERATIONS), "toolbox": toolbox_spec}
    failures = self_check(specs)
    if failures:
        for failure in failures:
            print(f"self-check: {failure}")
        return 2
    with open(records_path, encoding="utf-8") as file:
        records = json.load(file)
    invalid = answers = invalid_answers = 0
    for item in records:
        path = urlsplit(item["target"]).path
        line = f"{item['method']} {path}"
        problems = check(specs, item)
        for problem in problems:
            print(f"invalid: {line}: {problem}")
        invalid += bool(problems)
        if "response" in item:
            answers += 1
            problems = check_response(specs, item)
            for problem in problems:
                print(f"invalid answer: {line} -> {item['response']['status']}: {problem}")
            invalid_answers += bool(problems)
    print(f"openapi: {len(records)} requests, {invalid} invalid")
    print(f"openapi: {answers} answers, {invalid_answers} invalid")
    return 1 if invalid or invalid_answers else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
