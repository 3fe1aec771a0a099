"""Adds the product sweep of bench/recipes/sweep.yaml to one job on a served emulator with
Microsoft's Batch SDK (azure-batch 15.x) bulk task creation (P3 of scripts/bench).

Usage: sdk_submit.py ENDPOINT A B [MAX_CONCURRENCY]

Creates the pool (no nodes, so nothing runs) and the job, builds the task models and calls
BatchClient.create_tasks, which splits them into collections of 100 and sends them from
MAX_CONCURRENCY threads (default 4, as batchyard's apply). Prints the number of tasks added.
"""
import itertools
import sys

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential


def main():
    endpoint, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    # The emulator serves without authentication here; the SDK still needs a credential.
    client = BatchClient(endpoint, AzureNamedKeyCredential("bench", "YmVuY2g="))
    client.create_pool(
        models.BatchPoolCreateOptions(
            id="cpu",
            vm_size="Standard_D4s_v5",
            virtual_machine_configuration=models.VirtualMachineConfiguration(
                image_reference=models.BatchVmImageReference(
                    publisher="canonical", offer="ubuntu-24_04-lts", sku="server", version="latest"
                ),
                node_agent_sku_id="batch.node.ubuntu 24.04",
            ),
            target_dedicated_nodes=0,
        )
    )
    client.create_job(
        models.BatchJobCreateOptions(id="sweep", pool_info=models.BatchPoolInfo(pool_id="cpu"))
    )
    tasks = [
        models.BatchTaskCreateOptions(id=f"s-{x}-{y}", command_line=f"python train.py --a {x} --b {y}")
        for x, y in itertools.product(range(a), range(b))
    ]
    result = client.create_tasks("sweep", tasks, max_concurrency=concurrency)
    values = getattr(result, "values_property", None) or getattr(result, "result_values", None) or []
    failed = [r for r in values if r.status != "success"]
    if failed:
        sys.exit(f"{len(failed)} task(s) not added, first: {failed[0]}")
    print(f"added: {len(tasks)}")


if __name__ == "__main__":
    main()
