#!/usr/bin/env python3
"""Generate shared_key_vectors.json with the official Azure Batch Python SDK.

The vectors are produced by `azure.batch._patch.BatchSharedKeyAuthPolicy` (azure-batch
15.1.0 on PyPI, the signing policy Microsoft ships), not by our own code, so the Rust
implementation is checked against an independent reference. How to regenerate:

    python3 -m venv /tmp/azb && /tmp/azb/bin/pip install 'azure-batch==15.*'
    /tmp/azb/bin/python tests/vectors/generate_shared_key_vectors.py > tests/vectors/shared_key_vectors.json

For each request the policy runs on an azure-core HttpRequest exactly as in the SDK
pipeline; the string it signs is captured by wrapping `_sign_string`, and the
`Authorization` header it sets is recorded. Every request carries an explicit `ocp-date`
so the output is deterministic. The key is a made-up base64 key, not a real account's.

Header names are given in lower case where the policy matches them case-sensitively
(it selects `ocp-*` headers with `"ocp-" in name` on the names as given): HTTP/2 and the
Rust `http` types always carry lower-case names, so mixed-case `Ocp-*` names cannot
occur on our side.
"""

import json
import sys

import azure.batch
from azure.batch._patch import BatchSharedKeyAuthPolicy
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest

ACCOUNT = "batchyardtest"
# base64 of bytes 0..63: a fixed, fake 64-byte key
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
BASE = "https://batchyardtest.westeurope.batch.azure.com"
DATE = "Fri, 27 Nov 2026 12:00:00 GMT"
API = "api-version=2025-06-01.21.0"

POOL_BODY = json.dumps(
    {
        "id": "pool1",
        "vmSize": "standard_d2s_v3",
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        },
    },
    separators=(",", ":"),
)
TASKS_BODY = json.dumps(
    {"value": [{"id": "t1", "commandLine": "echo ü"}, {"id": "t2", "commandLine": "echo 2"}]},
    separators=(",", ":"),
    ensure_ascii=False,
)
CT = "application/json; odata=minimalmetadata"


def length(body):
    return str(len(body.encode("utf-8")))


CASES = [
    {
        "name": "get with api-version only",
        "method": "GET",
        "url": f"{BASE}/pools?{API}",
        "headers": [["ocp-date", DATE]],
    },
    {
        "name": "list with $filter, $select and maxresults (encoded query)",
        "method": "GET",
        "url": f"{BASE}/jobs/job-1/tasks?{API}&%24filter=state%20eq%20%27active%27&%24select=id%2Cstate&maxresults=100",
        "headers": [
            ["client-request-id", "9b0a5f6c-3c4e-4f1e-9d55-0a1b2c3d4e5f"],
            ["return-client-request-id", "true"],
            ["ocp-date", DATE],
            ["accept", "application/json"],
        ],
    },
    {
        "name": "post create pool with a JSON body",
        "method": "POST",
        "url": f"{BASE}/pools?{API}",
        "headers": [
            ["content-type", CT],
            ["content-length", length(POOL_BODY)],
            ["ocp-date", DATE],
            ["client-request-id", "00000000-0000-0000-0000-000000000001"],
        ],
        "body": POOL_BODY,
    },
    {
        "name": "post task collection with a non-ASCII body",
        "method": "POST",
        "url": f"{BASE}/jobs/job-1/addtaskcollection?{API}",
        "headers": [
            ["ocp-date", DATE],
            ["content-length", length(TASKS_BODY)],
            ["content-type", CT],
        ],
        "body": TASKS_BODY,
    },
    {
        "name": "post without a body signs content-length 0",
        "method": "POST",
        "url": f"{BASE}/pools/pool1/stopresize?{API}",
        "headers": [["ocp-date", DATE]],
    },
    {
        "name": "patch with If-Match",
        "method": "PATCH",
        "url": f"{BASE}/pools/pool1?{API}",
        "headers": [
            ["If-Match", '"0x8D4EDFEBFADF4AB"'],
            ["Content-Type", CT],
            ["Content-Length", "17"],
            ["ocp-date", DATE],
        ],
        "body": '{"metadata":[ ]}',
    },
    {
        "name": "file get with ocp-range and several ocp headers out of order",
        "method": "GET",
        "url": f"{BASE}/jobs/job-1/tasks/t1/files/wd%2Fout%20put.txt?{API}",
        "headers": [
            ["ocp-range", "bytes=0-1023"],
            ["ocp-date", DATE],
            ["ocp-batch-extra", "  spaced  "],
            ["If-Modified-Since", "Thu, 26 Nov 2026 00:00:00 GMT"],
        ],
    },
    {
        "name": "delete with If-Unmodified-Since and If-None-Match",
        "method": "DELETE",
        "url": f"{BASE}/jobs/job-1?{API}&force=true",
        "headers": [
            ["If-Unmodified-Since", "Thu, 26 Nov 2026 00:00:00 GMT"],
            ["If-None-Match", "*"],
            ["ocp-date", DATE],
        ],
    },
    {
        "name": "head",
        "method": "HEAD",
        "url": f"{BASE}/pools/pool1?{API}",
        "headers": [["ocp-date", DATE]],
    },
    {
        "name": "query names sort before api-version and a repeated name keeps its first value",
        "method": "GET",
        "url": f"{BASE}/pools?{API}&%24expand=stats&maxresults=5&maxresults=7&timeOut=20",
        "headers": [["ocp-date", DATE]],
    },
]


def main():
    credential = AzureNamedKeyCredential(ACCOUNT, KEY)
    policy = BatchSharedKeyAuthPolicy(credential)
    captured = {}
    original_sign = policy._sign_string

    def capture(string_to_sign):
        captured["string_to_sign"] = string_to_sign
        return original_sign(string_to_sign)

    policy._sign_string = capture
    vectors = []
    for case in CASES:
        request = HttpRequest(case["method"], case["url"], headers=dict(case["headers"]))
        if "body" in case:
            # keep the headers exactly as listed (HttpRequest(content=...) would add its own)
            request._data = case["body"]
        policy.on_request(PipelineRequest(request, PipelineContext(None)))
        vectors.append(
            {
                **case,
                "string_to_sign": captured["string_to_sign"],
                "authorization": request.headers["Authorization"],
            }
        )
    json.dump(
        {
            "generator": "tests/vectors/generate_shared_key_vectors.py",
            "sdk": f"azure-batch {azure.batch.__version__} (PyPI), azure.batch._patch.BatchSharedKeyAuthPolicy",
            "account": ACCOUNT,
            "key": KEY,
            "vectors": vectors,
        },
        sys.stdout,
        indent=2,
        ensure_ascii=False,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
