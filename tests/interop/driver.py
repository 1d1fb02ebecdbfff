"""Drives the providers' official Python libraries for tests/interop_python.rs.

Reads a JSON list of requests on standard input and writes a JSON list of answers, one per request, on standard
output. Each request names a library operation; signing answers carry what the library produced, verifying answers
say whether the library accepted the request (and, if not, why).
"""

import json
import sys
from datetime import datetime, timezone
from importlib.metadata import version

import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook


def standard_webhooks_sign(r):
    when = datetime.fromtimestamp(r["timestamp"], tz=timezone.utc)
    return {"signature": Webhook(r["secret"]).sign(r["id"], when, r["payload"])}


def standard_webhooks_verify(r):
    Webhook(r["secret"]).verify(r["payload"], r["headers"])
    return {"ok": True}


def stripe_sign(r):
    header = stripe.WebhookSignature.generate_signature_header(r["payload"], r["secret"], r["timestamp"])
    return {"header": header}


def stripe_verify(r):
    stripe.WebhookSignature.verify_header(r["payload"], r["headers"]["stripe-signature"], r["secret"], tolerance=300)
    return {"ok": True}


def slack_sign(r):
    signature = SignatureVerifier(r["secret"]).generate_signature(timestamp=str(r["timestamp"]), body=r["payload"])
    return {"signature": signature}


def slack_verify(r):
    ok = SignatureVerifier(r["secret"]).is_valid_request(r["payload"], r["headers"])
    return {"ok": ok} if ok else {"ok": False, "error": "is_valid_request returned False"}


OPERATIONS = {
    "standard-webhooks.sign": standard_webhooks_sign,
    "standard-webhooks.verify": standard_webhooks_verify,
    "stripe.sign": stripe_sign,
    "stripe.verify": stripe_verify,
    "slack.sign": slack_sign,
    "slack.verify": slack_verify,
}


def answer(request):
    try:
        return OPERATIONS[request["op"]](request)
    except Exception as e:  # a refusal is an answer, not a crash
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def main():
    if sys.argv[1:] == ["versions"]:
        print(json.dumps({p: version(p) for p in ("standardwebhooks", "stripe", "slack_sdk")}))
        return
    json.dump([answer(r) for r in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
