"""Uploads every file of a folder to one blob container with Microsoft's Python Blob SDK
(azure-storage-blob), as its documentation shows: one upload_blob call per file, with the
SDK's default concurrency (P7 of scripts/bench).

Usage: blob_upload.py ACCOUNT_URL ACCOUNT KEY CONTAINER FOLDER

The blob of each file is its path below FOLDER. Prints the number of files and bytes sent.
"""
import os
import sys

from azure.storage.blob import BlobServiceClient


def main():
    account_url, account, key, container, folder = sys.argv[1:6]
    service = BlobServiceClient(account_url, credential={"account_name": account, "account_key": key})
    client = service.get_container_client(container)
    if not client.exists():
        client.create_container()
    files = sent = 0
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(root, name)
            blob = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as f:
                client.upload_blob(blob, f, overwrite=True)
            files += 1
            sent += os.path.getsize(path)
    print(f"{files} {sent}")


if __name__ == "__main__":
    main()
