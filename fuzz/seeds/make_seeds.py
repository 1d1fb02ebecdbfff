#!/usr/bin/env python3
"""Writes the fuzz seed corpus (fuzz/seeds/<target>/) from the published vectors.

Usage: python3 fuzz/seeds/make_seeds.py [path/to/signatures.json]
(default: ../shared/vectors/signatures.json beside the repository). The published vectors are used as
they are; the schemes without one there (Stripe, Slack, Shopify, the custom `acme` scheme) get seeds signed
here with the keys the fuzz fixtures use (fuzz/src/lib.rs), so that they verify and the fuzzer starts from
accepted requests. Fixture order must match `FIXTURES` in fuzz/src/lib.rs.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VECTORS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "vectors", "signatures.json")

# Fixture indices (FIXTURES in src/lib.rs) and their first keys.
SW, SW_ED25519, STRIPE, GITHUB, SLACK, SHOPIFY, ACME, CUSTOM = range(8)
NOW = 1_700_000_000
STRIPE_KEY = b"whsec_stripe_fuzzing_key_0123456789"
SLACK_KEY = b"8f742231b10e8888abcd99yyyzzz85a5"
SHOPIFY_KEY = b"shopify_fuzzing_secret_0123456789"
ACME_KEY = b"acme_fuzzing_secret_0123456789ab"


def mac(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).digest()


def request(selector: int, headers: list, body: bytes) -> bytes:
    lines = b"".join(f"{n}: {v}\n".encode() for n, v in headers)
    return bytes([selector]) + lines + b"\n" + body


def roundtrip(selector: int, flags: int, ts: int, msg_id: str, payload: bytes, extra: bytes = b"") -> bytes:
    head = bytes([selector, flags]) + struct.pack("<HB", 7, 1) + struct.pack("<q", ts)
    return head + msg_id.encode() + b"\n" + extra + payload


def main() -> None:
    with open(VECTORS, encoding="utf-8") as f:
        vectors = json.load(f)["vectors"]
    seeds = {"parse_headers": {}, "verify": {}, "roundtrip": {}}

    for v in vectors:
        name, payload = v["name"], v["payload"].encode()
        if v["scheme"] == "standard-webhooks":
            sig = v["signature"]
            hdrs = [("webhook-id", v["id"]), ("webhook-timestamp", v["timestamp"]), ("webhook-signature", sig)]
            seeds["verify"][name] = request(SW, hdrs, payload)
            seeds["verify"][name + "_ed25519_fixture"] = request(SW_ED25519, hdrs, payload)
            svix = [(n.replace("webhook-", "svix-"), val) for n, val in hdrs]
            seeds["verify"][name + "_svix_names"] = request(SW, svix, payload)
            seeds["parse_headers"][name] = sig.encode()
            seeds["parse_headers"][name + "_timestamp"] = str(v["timestamp"]).encode()
            if v["valid"]:
                seeds["roundtrip"][name] = roundtrip(SW, 1, v["timestamp"], v["id"], payload)
                seeds["roundtrip"][name + "_ed25519"] = roundtrip(SW_ED25519, 1, v["timestamp"], v["id"], payload)
        elif v["scheme"] == "github":
            header_name, value = (p.strip() for p in v["header"].split(":", 1))
            hdrs = [(header_name, value), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")]
            seeds["verify"][name] = request(GITHUB, hdrs, payload)
            seeds["parse_headers"][name] = value.encode()
            seeds["roundtrip"][name] = roundtrip(GITHUB, 0, 0, "72d3162e-cc78-11e3-81ab-4c9367dc0958", payload)

    # Schemes without a published vector above: signed here, over the second Standard Webhooks payload.
    body = next(v["payload"] for v in vectors if v["scheme"] == "standard-webhooks").encode()
    stripe_value = f"t={NOW},v1={mac(STRIPE_KEY, f'{NOW}.'.encode() + body).hex()}"
    seeds["verify"]["stripe_signed"] = request(STRIPE, [("Stripe-Signature", stripe_value)], body)
    seeds["parse_headers"]["stripe_signed"] = stripe_value.encode()
    # Stripe's documented example header (docs.stripe.com/webhooks#verify-manually).
    seeds["parse_headers"]["stripe_docs_example"] = (
        b"t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,"
        b"v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    )
    slack_value = "v0=" + mac(SLACK_KEY, f"v0:{NOW}:".encode() + body).hex()
    seeds["verify"]["slack_signed"] = request(
        SLACK, [("X-Slack-Request-Timestamp", NOW), ("X-Slack-Signature", slack_value)], body
    )
    seeds["parse_headers"]["slack_signed"] = slack_value.encode()
    shopify_value = base64.b64encode(mac(SHOPIFY_KEY, body)).decode()
    seeds["verify"]["shopify_signed"] = request(
        SHOPIFY, [("X-Shopify-Hmac-Sha256", shopify_value), ("X-Shopify-Webhook-Id", "b54557e4")], body
    )
    seeds["parse_headers"]["shopify_signed"] = shopify_value.encode()
    acme_value = "sha256=" + base64.b64encode(mac(ACME_KEY, f"evt_1:{NOW}:".encode() + body)).decode()
    seeds["verify"]["acme_signed"] = request(
        ACME, [("x-acme-id", "evt_1"), ("x-acme-timestamp", NOW), ("x-acme-signature", acme_value)], body
    )
    for selector, label in [(STRIPE, "stripe"), (SLACK, "slack"), (SHOPIFY, "shopify"), (ACME, "acme")]:
        seeds["roundtrip"][label] = roundtrip(selector, 1, NOW, "evt_1", body)
    seeds["roundtrip"]["custom"] = roundtrip(
        CUSTOM, 2, NOW, "evt_1", body, extra=b"sha256=\n{id}.{timestamp}.{payload}\n"
    )

    for target, files in seeds.items():
        folder = os.path.join(HERE, target)
        os.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} seeds in {os.path.relpath(folder, REPO)}")


if __name__ == "__main__":
    main()
