"""Builds the same product sweep as typed task models of Microsoft's Batch SDK
(azure-batch 15.x) and serializes each as the SDK does before sending it, one JSON object per
line (P2 of scripts/bench).

Usage: sdk_tasks.py A B

Serialization is the SDK's own: json.dumps(model, cls=SdkJSONEncoder, exclude_readonly=True),
as in azure.batch._operations (create_task and create_task_collection).
"""
import itertools
import json
import sys

from azure.batch import models
from azure.batch._utils.model_base import SdkJSONEncoder


def main():
    a, b = int(sys.argv[1]), int(sys.argv[2])
    out = sys.stdout
    for x, y in itertools.product(range(a), range(b)):
        task = models.BatchTaskCreateOptions(
            id=f"s-{x}-{y}", command_line=f"python train.py --a {x} --b {y}"
        )
        out.write(json.dumps(task, cls=SdkJSONEncoder, exclude_readonly=True, separators=(",", ":")))
        out.write("\n")


if __name__ == "__main__":
    main()
