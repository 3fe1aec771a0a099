"""Drives a batchyard emulator with Microsoft's azure-batch SDK and Shared Key.

Usage: sdk_round_trip.py ENDPOINT ACCOUNT KEY
Creates a pool, waits for idle nodes, creates a job, adds 250 tasks in collections,
lists them over several pages, waits for completion and reads one task's stdout.
Prints one line per step; exits non-zero on the first failure.
"""
import sys
import time

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential

TASKS = 250


def wait(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def main():
    endpoint, account, key = sys.argv[1:4]
    client = BatchClient(endpoint, AzureNamedKeyCredential(account, key))

    client.create_pool(
        models.BatchPoolCreateOptions(
            id="sdk-pool",
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=models.VirtualMachineConfiguration(
                image_reference=models.BatchVmImageReference(
                    publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
                ),
                node_agent_sku_id="batch.node.ubuntu 22.04",
            ),
            target_dedicated_nodes=2,
            task_slots_per_node=4,
        )
    )
    nodes = wait(
        "idle nodes",
        lambda: (lambda ns: ns if len(ns) == 2 and all(n.state == "idle" for n in ns) else None)(
            list(client.list_nodes("sdk-pool"))
        ),
    )
    print(f"pool: {len(nodes)} idle nodes")

    client.create_job(
        models.BatchJobCreateOptions(id="sdk-job", pool_info=models.BatchPoolInfo(pool_id="sdk-pool"))
    )
    added = 0
    for start in range(0, TASKS, 100):
        group = models.BatchTaskGroup(
            task_values=[
                models.BatchTaskCreateOptions(
                    id=f"t{i:03d}", command_line='/bin/sh -c "echo hello from $AZ_BATCH_TASK_ID"'
                )
                for i in range(start, min(start + 100, TASKS))
            ]
        )
        result = client.create_task_collection("sdk-job", group)
        statuses = {r.status for r in result.values_property} if hasattr(result, "values_property") else {
            r.status for r in result.result_values
        }
        if statuses != {"success"}:
            raise SystemExit(f"collection add failed: {result}")
        added += len(group.task_values)
    print(f"tasks: {added} added")

    pages = 0
    listed = 0
    for page in client.list_tasks("sdk-job", max_results=100).by_page():
        pages += 1
        listed += len(list(page))
    if listed != TASKS or pages < 3:
        raise SystemExit(f"listing returned {listed} tasks in {pages} pages")
    print(f"list: {listed} tasks in {pages} pages")

    counts = wait(
        "task completion",
        lambda: (lambda c: c if c.task_counts.completed == TASKS else None)(
            client.get_job_task_counts("sdk-job")
        ),
    )
    if counts.task_counts.succeeded != TASKS:
        raise SystemExit(f"not all tasks succeeded: {counts}")
    print(f"counts: {counts.task_counts.succeeded} succeeded")

    task = client.get_task("sdk-job", "t042")
    if task.execution_info.exit_code != 0:
        raise SystemExit(f"t042 exit code {task.execution_info.exit_code}")
    stdout = b"".join(client.download_task_file("sdk-job", "t042", "stdout.txt")).decode()
    print(f"stdout: {stdout.strip()}")
    part = b"".join(client.download_task_file("sdk-job", "t042", "stdout.txt", ocp_range="bytes=0-4")).decode()
    print(f"range: {part}")


if __name__ == "__main__":
    main()
