#!/usr/bin/env python3
"""Counts the operations (path + method pairs) of an OpenAPI document, independently of the
generator, so the corpus runner can check that none was skipped."""
import json
import sys

import yaml

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class Loader(yaml.SafeLoader):
    pass


# Keys such as `200:` load as integers; any scalar is fine for counting.
Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def main(path):
    sys.setrecursionlimit(100_000)  # adversarial documents nest a thousand levels deep
    with open(path, encoding="utf-8-sig") as handle:
        text = handle.read()
    try:
        document = json.loads(text)
    except ValueError:
        document = yaml.load(text, Loader=Loader)
    paths = (document or {}).get("paths") or {}
    count = 0
    for key, item in paths.items():
        if str(key).startswith("x-") or not isinstance(item, dict):
            continue
        count += sum(1 for method in item if str(method).lower() in METHODS)
    print(count)


if __name__ == "__main__":
    main(sys.argv[1])
