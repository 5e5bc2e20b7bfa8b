"""Schemathesis hooks and checks for placementd (loaded with SCHEMATHESIS_HOOKS=st_hooks).

* `ledger_no_server_error` replaces the built-in not_a_server_error: any 5xx fails, except the
  contract's 503s (`unavailable`, `projection_lagging`) with a Retry-After header.
* `ledger_error_shape`: every error response is {"error":{"code","message","field"?,
  "event_index"?,"event_id"?}} with a code from the contract and the status the contract gives it.
* `before_call` keeps `min_position` at most 1: a larger integer is a position the ledger has not
  reached, so each such case waits the full 5 s before its (correct) 503 projection_lagging; the
  hostile suite covers that path once. Negative (non-integer, negative) values are left alone.
* `map_body` turns schema-valid but unknown currency codes ("AAA": the document says only
  ^[A-Z]{3}$, the daemon takes ISO 4217 codes) into "USD", so that generated `posted` events can
  succeed and later cases reach the rules of existing postings. Invalid values stay invalid.
* `after_call` appends one JSON line per response to $LEDGER_FUZZ_LOG for the summary
  (per-operation counts, statuses, and the number of events recorded by 201 responses).
"""

import json
import os

import schemathesis

import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contract import SPEC_CODES, STATUS_OF_CODE  # noqa: E402


def _error_body(response):
    try:
        return json.loads(response.content.decode("utf-8"))
    except Exception:
        return None


@schemathesis.check
def ledger_no_server_error(ctx, response, case):
    status = response.status_code
    if status < 500:
        return None
    body = _error_body(response)
    code = body.get("error", {}).get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
    if status == 503 and code in ("unavailable", "projection_lagging") and "retry-after" in response.headers:
        return None
    raise AssertionError(f"server error {status}: {response.content[:300]!r}")


@schemathesis.check
def ledger_error_shape(ctx, response, case):
    status = response.status_code
    if status < 400 or response.request.method == "HEAD":
        return None
    body = _error_body(response)
    if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], dict)):
        raise AssertionError(f"error body is not {{\"error\":{{...}}}}: {response.content[:300]!r}")
    err = body["error"]
    if not isinstance(err.get("code"), str) or not isinstance(err.get("message"), str) or not err["message"]:
        raise AssertionError(f"error without a code and a message: {response.content[:300]!r}")
    extra = set(err) - {"code", "message", "field", "event_index", "event_id"}
    if extra:
        raise AssertionError(f"error has members outside the contract: {sorted(extra)}")
    code = err["code"]
    if code not in SPEC_CODES:
        raise AssertionError(f"error code {code!r} is not one of the contract's")
    expected = STATUS_OF_CODE.get(code, 422)
    if status != expected:
        raise AssertionError(f"code {code} answered with {status}; the contract says {expected}")
    if status == 401 and "www-authenticate" not in response.headers:
        raise AssertionError("401 without WWW-Authenticate")
    return None


@schemathesis.hook
def before_call(context, case, kwargs):
    query = case.query
    if isinstance(query, dict):
        value = query.get("min_position")
        if isinstance(value, int) and not isinstance(value, bool) and value > 1:
            query["min_position"] = 1


ISO_SAMPLE = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "INR", "BRL", "MXN"}


def _currencies(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "currency" and isinstance(v, str) and len(v) == 3 and v.isascii() and v.isupper() and v.isalpha() \
                    and v not in ISO_SAMPLE:
                value[k] = "USD"
            else:
                _currencies(v)
    elif isinstance(value, list):
        for v in value:
            _currencies(v)
    return value


@schemathesis.hook
def map_body(context, body):
    return _currencies(body)


@schemathesis.hook
def after_call(context, case, response):
    path = os.environ.get("LEDGER_FUZZ_LOG")
    if not path:
        return
    line = {
        "key": os.environ.get("LEDGER_FUZZ_ROLE", "?"),
        "operation": f"{case.operation.method.upper()} {case.operation.path}",
        "method": response.request.method,
        "status": response.status_code,
    }
    body = _error_body(response)
    if response.status_code >= 400 and isinstance(body, dict) and isinstance(body.get("error"), dict):
        line["code"] = body["error"].get("code")
    if response.status_code == 201 and response.request.method == "POST" and isinstance(body, dict):
        line["recorded"] = len(body.get("events", []))
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")
