"""The emulator's ceiling for task submission (P3 of scripts/bench): pre-built add-task-
collection bodies (100 tasks each, the service's limit) for the product sweep of
bench/recipes/sweep.yaml, sent over keep-alive connections from CONNECTIONS threads.

Usage: loadgen.py ENDPOINT A B [CONNECTIONS]

Creates the pool (no nodes) and the job, builds every request body in memory, then times only
the sending. Prints JSON: {"tasks": N, "requests": R, "send_seconds": S}. Exits 1 if any
request or any task in a response fails.
"""
import http.client
import itertools
import json
import sys
import threading
import time
import urllib.parse

API = "api-version=2025-06-01.21.0"
HEADERS = {"Content-Type": "application/json; odata=minimalmetadata"}


def request(conn, method, path, body):
    conn.request(method, f"{path}?{API}", body=body, headers=HEADERS)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise SystemExit(f"{method} {path}: {resp.status} {data[:300]!r}")
    return data


def main():
    endpoint, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    connections = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    url = urllib.parse.urlsplit(endpoint)
    host, port = url.hostname, url.port

    conn = http.client.HTTPConnection(host, port)
    request(conn, "POST", "/pools", json.dumps({
        "id": "cpu", "vmSize": "Standard_D4s_v5",
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "canonical", "offer": "ubuntu-24_04-lts",
                               "sku": "server", "version": "latest"},
            "nodeAgentSKUId": "batch.node.ubuntu 24.04"},
        "targetDedicatedNodes": 0}).encode())
    request(conn, "POST", "/jobs", json.dumps({"id": "sweep", "poolInfo": {"poolId": "cpu"}}).encode())
    conn.close()

    tasks = [{"id": f"s-{x}-{y}", "commandLine": f"python train.py --a {x} --b {y}"}
             for x, y in itertools.product(range(a), range(b))]
    bodies = [json.dumps({"value": tasks[i:i + 100]}, separators=(",", ":")).encode()
              for i in range(0, len(tasks), 100)]
    path = "/jobs/sweep/addtaskcollection"
    lock = threading.Lock()
    queue = list(reversed(bodies))
    errors = []

    def worker():
        c = http.client.HTTPConnection(host, port)
        while True:
            with lock:
                if not queue or errors:
                    break
                body = queue.pop()
            data = json.loads(request(c, "POST", path, body))
            bad = [v for v in data.get("value", []) if v.get("status") != "success"]
            if bad:
                with lock:
                    errors.append(bad[0])
        c.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"task not added: {errors[0]}")
    print(json.dumps({"tasks": len(tasks), "requests": len(bodies), "send_seconds": elapsed}))


if __name__ == "__main__":
    main()
