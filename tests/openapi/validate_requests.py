"""Checks recorded HTTP requests against Daytona's OpenAPI 3.0 contract.

Usage: validate_requests.py CONTROL_SPEC TOOLBOX_SPEC RECORDS_JSON

RECORDS_JSON is a list of {"method", "target" (path and query), "content_type",
"header_names", "body_hex"}. Paths under `/api` are looked up in the control-plane spec,
paths under `/toolbox/{sandboxId}` in the toolbox spec. For each request: the operation
exists for that method and path template, path and query parameters have the declared
types, required parameters are present, no undeclared query parameter is sent, and the
body matches the requestBody (JSON through `jsonschema`, multipart by part names).

Declared-but-not-required properties are allowed; undeclared JSON properties are reported
too (stricter than the spec's default `additionalProperties`) except for the fields the
current Cloud API added after the v0.190 spec (NOTES.md section 10), listed in NEWER_FIELDS.

Before validating, the script checks itself on requests it knows are invalid, so a
validator that accepts everything cannot pass. Prints one line per invalid request and
exits 1 when there is any; never prints header values or bodies.
"""

import json
import re
import sys
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import yaml

# Fields of the current Cloud API missing from the v0.190 spec (NOTES.md section 10).
NEWER_FIELDS = {
    "CreateSandbox": {
        "ttlMinutes",
        "secrets",
        "autoPauseInterval",
        "kvm",
        "spot",
        "outboundProxyUrl",
        "queueTimeout",
    },
}

# Toolbox routes of the current Cloud API missing from the v0.190 toolbox spec (NOTES.md
# section 10): `POST /env` with `{"set": {K: V}, "unset": [K]}` changes the daemon's
# environment for processes started later.
NEWER_TOOLBOX_OPERATIONS = {
    ("post", "/env"): {
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
        }
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
        # Literal segments first, so `/sandbox/paginated` wins over `/sandbox/{id}`.
        templates = sorted(self.paths, key=lambda template: (template.count("{"), template))
        self.templates = [(template, pattern(template)) for template in templates]

    def validator(self, schema):
        document = {"allOf": [to_json_schema(schema)], "components": self.components}
        return jsonschema.Draft7Validator(document)

    def operation(self, method, path):
        """(operation, path parameter values, path-level parameters) or a reason."""
        if (method, path) in self.extra:
            return self.extra[(method, path)], {}, []
        for template, (regex, names) in self.templates:
            match = regex.fullmatch(path)
            if match and method in self.paths[template]:
                item = self.paths[template]
                values = {names[int(key[1:])]: value for key, value in match.groupdict().items()}
                return item[method], values, item.get("parameters", [])
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


def check_parameters(spec, operation, path_level, path_values, query, headers):
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
        if ("query", key) not in declared:
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


def check(specs, record):
    """Every reason `record` breaks the contract (empty when it keeps it)."""
    method = record["method"].lower()
    target = urlsplit(record["target"])
    body = bytes.fromhex(record.get("body_hex", ""))
    if target.path.startswith("/api/"):
        spec, path = specs["control"], target.path[len("/api") :]
    elif match := re.fullmatch(r"/toolbox/[^/]+(/.*)", target.path):
        spec, path = specs["toolbox"], match.group(1)
    else:
        return [f"`{target.path}` is neither under `/api` nor under `/toolbox/{{sandboxId}}`"]
    found = spec.operation(method, path)
    if isinstance(found, str):
        return [found]
    operation, path_values, path_level = found
    query = parse_qsl(target.query, keep_blank_values=True)
    headers = {name.lower() for name in record.get("header_names", [])}
    problems = check_parameters(spec, operation, path_level, path_values, query, headers)
    return problems + check_body(spec, operation, record.get("content_type"), body)


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
    }
    must_pass = {
        "a plain create": record("POST", "/api/sandbox", {"name": "x", "labels": {"a": "b"}}),
        "a create with ttlMinutes": record("POST", "/api/sandbox", {"name": "x", "ttlMinutes": 5}),
        "a listing by labels": record("GET", "/api/sandbox?labels=%7B%7D"),
        "an upload": multipart("/toolbox/x/files/upload?path=a", ["file"]),
        "a bulk upload": multipart(
            "/toolbox/x/files/bulk-upload", ["files[0].path", "files[0].file"]
        ),
    }
    failures = [f"accepted {name}" for name, bad in must_fail.items() if not check(specs, bad)]
    for name, good in must_pass.items():
        failures += [f"rejected {name}: {problem}" for problem in check(specs, good)]
    return failures


def main(control, toolbox, records_path):
    toolbox_spec = Spec(load(toolbox), {**NEWER_TOOLBOX_OPERATIONS, **TOOLBOX_BODY_GAPS})
    specs = {"control": Spec(load(control)), "toolbox": toolbox_spec}
    failures = self_check(specs)
    if failures:
        for failure in failures:
            print(f"self-check: {failure}")
        return 2
    with open(records_path, encoding="utf-8") as file:
        records = json.load(file)
    invalid = 0
    for item in records:
        path = urlsplit(item["target"]).path
        line = f"{item['method']} {path}"
        problems = check(specs, item)
        for problem in problems:
            print(f"invalid: {line}: {problem}")
        invalid += bool(problems)
    print(f"openapi: {len(records)} requests, {invalid} invalid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
