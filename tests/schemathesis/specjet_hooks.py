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
