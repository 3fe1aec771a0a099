#!/usr/bin/env python3
"""Refreshes batchyard's price snapshot (crates/batchyard-cost/data/prices.json) from
Azure's public Retail Prices API.

    python3 scripts/refresh-prices.py                      # every size and region in it
    python3 scripts/refresh-prices.py Standard_D4s_v5@eastus ...   # and these too

For each VM size and region it asks the API (no authentication) with the filter that
batchyard itself uses, follows NextPageLink, keeps the meters a Batch node is billed on
(Virtual Machines, Consumption, 1 Hour; Windows when the product ends in "Windows"; spot
when the meter ends in "Spot"; no "Low Priority" meters) and writes each figure with the
request it came from and today's date. A meter the API no longer lists is dropped, so the
plan says "price unknown" rather than show an old figure as current.
"""

import datetime
import json
import pathlib
import sys
import urllib.parse
import urllib.request

SNAPSHOT = pathlib.Path(__file__).resolve().parent.parent / "crates/batchyard-cost/data/prices.json"
API = "https://prices.azure.com/api/retail/prices"


def fetch(size, region):
    flt = (
        f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' "
        f"and armSkuName eq '{size}' and priceType eq 'Consumption'"
    )
    url = API + "?" + urllib.parse.urlencode({"$filter": flt})
    first, items = url, []
    for _ in range(20):
        with urllib.request.urlopen(url, timeout=30) as r:
            page = json.load(r)
        items += page.get("Items", [])
        url = page.get("NextPageLink")
        if not url:
            break
    meters = {}
    for i in items:
        if (
            i.get("serviceName") != "Virtual Machines"
            or i.get("type") != "Consumption"
            or i.get("unitOfMeasure") != "1 Hour"
            or "Low Priority" in i.get("meterName", "") + i.get("skuName", "")
            or i.get("armSkuName", "").lower() != size.lower()
        ):
            continue
        spot = i.get("meterName", "").endswith(" Spot") or i.get("skuName", "").endswith(" Spot")
        os_ = "windows" if i.get("productName", "").rstrip().endswith("Windows") else "linux"
        key = (os_, "spot" if spot else "dedicated")
        best = meters.get(key)
        if best is None or i.get("effectiveStartDate", "") > best.get("effectiveStartDate", ""):
            meters[key] = i
    return first, meters


def main():
    snap = json.loads(SNAPSHOT.read_text())
    pairs = {(e["vm_size"], e["region"]) for e in snap["prices"]}
    for arg in sys.argv[1:]:
        size, _, region = arg.partition("@")
        pairs.add((size, region.lower()))
    today = datetime.date.today().isoformat()
    prices = []
    for size, region in sorted(pairs):
        url, meters = fetch(size, region)
        for (os_, priority), i in sorted(meters.items()):
            prices.append({
                "vm_size": size, "region": region, "os": os_, "priority": priority,
                "per_hour": i["retailPrice"], "meter": i.get("meterName"),
                "source": url, "source_date": today,
            })
        print(f"{size} {region}: {len(meters)} meter(s)", file=sys.stderr)
    snap["date"] = today
    snap["prices"] = prices
    SNAPSHOT.write_text(json.dumps(snap, indent=2) + "\n")


if __name__ == "__main__":
    main()
