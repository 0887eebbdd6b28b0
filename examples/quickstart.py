"""A runnable tour of Pymetrix: record hits, follow callers, export, stream live."""

from __future__ import annotations

import json
import threading
import time

from pymetrix import Metrics
from pymetrix.visualize import to_mermaid

metricman = Metrics("shop")


@metricman.track("Home")
def home() -> None:
    product("42")


@metricman.track("Product")
def product(product_id: str) -> None:
    time.sleep(0.001)


def main() -> None:
    # A live stream sees every hit recorded after it was opened.
    with metricman.pipeline(data="time_series", mode="live", duration=2) as stream:
        visitors = threading.Thread(target=lambda: [home() for _ in range(3)])
        visitors.start()
        for count, record in enumerate(stream, start=1):
            print("live:", json.dumps(record))
            if count == 6:
                break
        visitors.join()
    metricman.hit("Checkout", caller="Product", duration=0.0123, status=200)

    print(json.dumps(metricman.export("aggregate"), indent=2))
    print(json.dumps(metricman.export("flow"), indent=2))
    print(json.dumps(metricman.aggregate(stats=True), indent=2))
    print(to_mermaid(metricman))


if __name__ == "__main__":
    main()
