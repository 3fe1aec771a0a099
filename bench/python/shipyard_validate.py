"""Validates a Batch Shipyard config set the way Shipyard's validator does.

Usage: shipyard_validate.py CONFIG_DIR SCHEMA_DIR

Shipyard (convoy/validator.py:validate_config, called from shipyard.py:CliContext._init_config)
validates each config file separately against schemas/<name>.yaml with pykwalify, strict rule
validation on, and exits 1 on the first failure. This does the same for credentials, config,
pool and jobs (the files every Shipyard batch command loads), then prints how many files passed.
"""
import logging
import pathlib
import sys

import pykwalify.core
import pykwalify.errors

# Shipyard silences pykwalify's own logging the same way (only its error message is shown).
logging.getLogger("pykwalify").setLevel(logging.CRITICAL)

CONFIGS = ("credentials", "config", "pool", "jobs")


def main():
    config_dir = pathlib.Path(sys.argv[1])
    schema_dir = pathlib.Path(sys.argv[2])
    checked = 0
    for name in CONFIGS:
        path = config_dir / f"{name}.yaml"
        if not path.exists():
            continue
        validator = pykwalify.core.Core(
            source_file=str(path), schema_files=[str(schema_dir / f"{name}.yaml")]
        )
        validator.strict_rule_validation = True
        try:
            validator.validate(raise_exception=True)
        except pykwalify.errors.SchemaError as e:
            print(f"{name.capitalize()} Configuration {e.msg}", file=sys.stderr)
            sys.exit(1)
        checked += 1
    print(f"valid: {checked} file(s)")


if __name__ == "__main__":
    main()
