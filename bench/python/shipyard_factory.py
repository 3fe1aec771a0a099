"""Generates a product sweep the way Batch Shipyard's task factory does and dumps each
task payload as JSON, one per line (P2 of scripts/bench).

Usage: shipyard_factory.py A B

Mirrors convoy/task_factory.py (parametric_sweep.product: itertools.product over ranges, the
command formatted with str.format(*arg)) and settings.job_tasks (the task with the factory is
deep-copied without the factory key; each generated task is a shallow copy.copy). The payload
is the Batch REST task body for the same ids and commands as bench/recipes/sweep.yaml, so the
output equals `batchyard render`'s task lines. (Shipyard itself numbers ids task-NNNNN; the
recipe's id template is used here so the two outputs can be compared.)
"""
import copy
import itertools
import json
import sys


def generate_task(task, factory):
    # convoy/task_factory.py:generate_task, parametric_sweep product branch
    sweep = factory["parametric_sweep"]["product"]
    iters = [range(p["start"], p["stop"], p["step"]) for p in sweep]
    for arg in itertools.product(*iters):
        newtask = copy.copy(task)
        newtask["command"] = task["command"].format(*arg)
        newtask["id"] = task["id"].format(*arg)
        yield newtask


def main():
    a, b = int(sys.argv[1]), int(sys.argv[2])
    spec = {
        "id": "s-{0}-{1}",
        "command": "python train.py --a {0} --b {1}",
        "task_factory": {
            "parametric_sweep": {
                "product": [
                    {"start": 0, "stop": a, "step": 1},
                    {"start": 0, "stop": b, "step": 1},
                ]
            }
        },
    }
    task = copy.deepcopy(spec)
    factory = task.pop("task_factory")
    out = sys.stdout
    dumps = json.dumps
    for t in generate_task(task, factory):
        payload = {"id": t["id"], "commandLine": t["command"]}
        out.write(dumps(payload, separators=(",", ":")))
        out.write("\n")


if __name__ == "__main__":
    main()
