"""Schemathesis hooks for specjet's example services (loaded by scripts/schemathesis).

The examples' rate limits key writes by client address, and the loopback proxy is trusted to
name the client in `X-Forwarded-For`. Each call comes from an address of its own, so that one
budget spent by earlier cases does not turn every later write into a 429 and the writes are
really exercised. The addresses are drawn from a counter (198.18.0.0/15, a range for
benchmarks), so a run with a fixed seed sends the same requests.
"""

import itertools

import schemathesis

_calls = itertools.count(1)


@schemathesis.hook
def before_call(context, case, kwargs):
    n = next(_calls) % (2 * 256 * 254)
    address = f"198.{18 + n // (256 * 254)}.{(n // 254) % 256}.{n % 254 + 1}"
    case.headers = {**(case.headers or {}), "X-Forwarded-For": address}


# Credentials for the operations the examples secure (`security` in their specs), so that
# those operations are exercised past their 401; schemathesis still checks that each refuses
# a request without them (`ignored_auth`).


@schemathesis.auth().apply_to(path="/me/orders")
class ShopToken:
    """A token of the shop's seeded user 1, as `POST /tokens` issues it."""

    def get(self, case, context):
        import requests

        response = requests.post(
            f"{case.operation.base_url.rstrip('/')}/tokens",
            json={"user_id": 1},
            headers={"X-Forwarded-For": "198.19.255.254"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["token"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.auth().apply_to(path="/pets/{petId}", method="DELETE")
class PetstoreKey:
    """The petstore's development key (it runs without PETSTORE_API_KEYS here)."""

    def get(self, case, context):
        return "petstore-dev-key"

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "X-API-Key": data}
