"""schemathesis hooks for claimsd's contract test (Tests/AppTests/ContractTests.swift).

The document describes NDJSON import bodies as strings; schemathesis has no serializer of its
own for application/x-ndjson, so a generated string is sent as its UTF-8 bytes.
"""
import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    # A schema-violating value (not a string): one JSON document per line, as NDJSON is.
    import json
    items = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(item) for item in items).encode("utf-8")
