"""Microsoft's azure-storage-blob package against the emulator's blob endpoint.

Usage: blob_round_trip.py ACCOUNT_URL ACCOUNT KEY
Prints one line per checked behaviour; any mismatch raises, exiting non-zero.
"""

import datetime
import os
import sys

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    ContentSettings,
    generate_blob_sas,
    generate_container_sas,
)

url, account, key = sys.argv[1:4]
credential = {"account_name": account, "account_key": key}
# Small limits so a 10 KiB upload goes through Put Block + Put Block List.
service = BlobServiceClient(
    account_url=url,
    credential=credential,
    max_single_put_size=4 * 1024,
    max_block_size=1024,
)


def refused(action, code):
    """Runs action, which must fail with HTTP 403 or 401 and the given error code."""
    try:
        action()
    except HttpResponseError as e:
        assert e.status_code in (401, 403), f"expected 403, got {e.status_code}: {e}"
        assert e.error_code == code, f"expected {code}, got {e.error_code}: {e}"
        return
    raise AssertionError(f"expected {code}, but the request succeeded")


container = service.create_container("sdk-data", metadata={"owner": "tests"})
try:
    service.create_container("sdk-data")
    raise AssertionError("second create succeeded")
except ResourceExistsError:
    pass
names = [c.name for c in service.list_containers(include_metadata=True)]
assert "sdk-data" in names, names
print(f"containers: {','.join(names)}")
assert container.get_container_properties().metadata == {"owner": "tests"}

# Single put.
small = b"hello blob\n"
container.upload_blob(
    "single.txt",
    small,
    metadata={"kind": "input"},
    content_settings=ContentSettings(content_type="text/plain"),
)
single = container.get_blob_client("single.txt")
committed, _ = single.get_block_list()
assert committed == [], committed
props = single.get_blob_properties()
assert props.size == len(small), props.size
assert props.metadata == {"kind": "input"}, props.metadata
assert props.content_settings.content_type == "text/plain", props.content_settings
print(f"single: {props.size} bytes, metadata {props.metadata['kind']}, {props.content_settings.content_type}")
try:
    container.upload_blob("single.txt", b"again")
    raise AssertionError("upload without overwrite replaced a blob")
except ResourceExistsError:
    pass
container.upload_blob("single.txt", small, overwrite=True)

# Block upload.
big = os.urandom(10 * 1024 + 7)
container.upload_blob("dir/big.bin", big)
blob = container.get_blob_client("dir/big.bin")
committed, _ = blob.get_block_list()
assert len(committed) == 11, len(committed)
assert blob.download_blob().readall() == big
print(f"blocks: {len(committed)} blocks, {len(big)} bytes round-tripped")

# Ranged download.
part = blob.download_blob(offset=1000, length=500).readall()
assert part == big[1000:1500]
tail = blob.download_blob(offset=10 * 1024).readall()
assert tail == big[10 * 1024 :]
print(f"range: {len(part)} bytes at 1000, tail {len(tail)} bytes")

# Metadata and properties.
blob.set_blob_metadata({"stage": "done", "n": "7"})
blob.set_http_headers(content_settings=ContentSettings(content_type="application/x-test"))
props = blob.get_blob_properties()
assert props.metadata == {"stage": "done", "n": "7"}, props.metadata
assert props.content_settings.content_type == "application/x-test"
print(f"properties: metadata {sorted(props.metadata)}, {props.content_settings.content_type}")

# Paged listing.
for i in range(25):
    container.upload_blob(f"page/{i:03}.txt", f"item {i}".encode())
pages = list(container.list_blobs(name_starts_with="page/", results_per_page=10).by_page())
listed = [b.name for page in pages for b in page]
assert listed == [f"page/{i:03}.txt" for i in range(25)], listed
print(f"list: {len(listed)} blobs in {len(pages)} pages")
walked = sorted(b.name for b in container.walk_blobs(delimiter="/"))
assert walked == ["dir/", "page/", "single.txt"], walked
print(f"walk: {','.join(walked)}")
assert container.get_blob_client("dir/big.bin").exists()

# Service SAS, one permission at a time.
later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)


def with_sas(**permission):
    sas = generate_container_sas(
        account,
        "sdk-data",
        account_key=key,
        permission=ContainerSasPermissions(**permission),
        expiry=later,
    )
    return ContainerClient.from_container_url(f"{url}/sdk-data?{sas}")


reader = with_sas(read=True)
assert reader.download_blob("single.txt").readall() == small
refused(lambda: reader.upload_blob("r.txt", b"x"), "AuthorizationPermissionMismatch")
refused(lambda: list(reader.list_blobs()), "AuthorizationPermissionMismatch")
print("sas read: download ok, upload and list refused")

writer = with_sas(write=True)
writer.upload_blob("w.txt", b"written", overwrite=True)
writer.upload_blob("w.txt", b"written again", overwrite=True)
refused(lambda: writer.download_blob("w.txt").readall(), "AuthorizationPermissionMismatch")
refused(lambda: writer.delete_blob("w.txt"), "AuthorizationPermissionMismatch")
print("sas write: upload and overwrite ok, download and delete refused")

creator = with_sas(create=True)
creator.upload_blob("c.txt", b"created")
refused(lambda: creator.upload_blob("c.txt", b"replaced", overwrite=True), "AuthorizationPermissionMismatch")
print("sas create: new blob ok, overwrite refused")

lister = with_sas(list=True)
assert len(list(lister.list_blobs(name_starts_with="page/"))) == 25
refused(lambda: lister.download_blob("single.txt").readall(), "AuthorizationPermissionMismatch")
print("sas list: list ok, download refused")

deleter = with_sas(delete=True)
deleter.delete_blob("c.txt")
refused(lambda: deleter.download_blob("w.txt").readall(), "AuthorizationPermissionMismatch")
print("sas delete: delete ok, download refused")

blob_sas = generate_blob_sas(
    account, "sdk-data", "single.txt", account_key=key, permission=BlobSasPermissions(read=True), expiry=later
)
one = ContainerClient.from_container_url(f"{url}/sdk-data?{blob_sas}")
assert one.download_blob("single.txt").readall() == small
refused(lambda: one.download_blob("w.txt").readall(), "AuthenticationFailed")
print("sas blob: its blob ok, another blob refused")

earlier = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
expired = ContainerClient.from_container_url(
    f"{url}/sdk-data?"
    + generate_container_sas(
        account, "sdk-data", account_key=key, permission=ContainerSasPermissions(read=True), expiry=earlier
    )
)
refused(lambda: expired.download_blob("single.txt").readall(), "AuthenticationFailed")
print("sas expired: refused")

# A wrong key is refused.
wrong = BlobServiceClient(account_url=url, credential={"account_name": account, "account_key": "d3Jvbmcta2V5"})
refused(lambda: list(wrong.list_containers()), "AuthenticationFailed")
forged = ContainerClient.from_container_url(
    f"{url}/sdk-data?"
    + generate_container_sas(
        account, "sdk-data", account_key="d3Jvbmcta2V5", permission=ContainerSasPermissions(read=True), expiry=later
    )
)
refused(lambda: forged.download_blob("single.txt").readall(), "AuthenticationFailed")
print("wrong key: shared key and sas refused")

blob.delete_blob()
assert not blob.exists()
service.delete_container("sdk-data")
assert "sdk-data" not in [c.name for c in service.list_containers()]
print("deleted: blob and container")
