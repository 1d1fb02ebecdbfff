#!/usr/bin/env python3
"""Writes the test vectors in this folder (run it from anywhere: `python3 generate.py`).

Every value either was published by a provider or one of its official libraries (the `source` of the vector says
where), or is derived here from published inputs by the provider's documented rule; derived vectors say so. Each
published signature is recomputed and asserted below before anything is written, so this script doubles as a check
that the published examples agree with the rules the vectors claim. Standard library only; Ed25519 is implemented
here from RFC 8032 and checked against the RFC's first test vector.

Files are named after what they expect: `<scheme>_valid.json` holds requests that verify,
`<scheme>_rejects_<error kind>.json` requests that fail with that kind (see tests/vectors.rs).
"""

import base64
import hashlib
import hmac
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# --- Ed25519 (RFC 8032, section 5.1), only what signing needs -------------------------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P


def _inv(x):
    return pow(x, _P - 2, _P)


def _point_add(a, b):
    # Extended twisted Edwards coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z.
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1 = (y1 - x1) * (y2 - x2) % _P
    e2 = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = e2 - e1, d - c, d + c, e2 + e1
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _scalar_mult(scalar, point):
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _point_add(result, point)
        point = _point_add(point, point)
        scalar >>= 1
    return result


def _base_point():
    y = 4 * _inv(5) % _P
    xx = (y * y - 1) * _inv(_D * y * y + 1) % _P
    x = pow(xx, (_P + 3) // 8, _P)
    if (x * x - xx) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    if x & 1:
        x = _P - x
    return (x, y, 1, x * y % _P)


_B = _base_point()


def _encode_point(point):
    x, y, z, _ = point
    zi = _inv(z)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _sha512_int(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def ed25519_public_key(seed):
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return _encode_point(_scalar_mult(a, _B))


def ed25519_sign(seed, message):
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    public = _encode_point(_scalar_mult(a, _B))
    r = _sha512_int(digest[32:], message) % _L
    big_r = _encode_point(_scalar_mult(r, _B))
    k = _sha512_int(big_r, public, message) % _L
    return big_r + ((r + k * a) % _L).to_bytes(32, "little")


# RFC 8032, section 7.1, TEST 1: the key pair and the signature of the empty message.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
assert ed25519_public_key(RFC8032_SEED) == RFC8032_PUBLIC
assert ed25519_sign(RFC8032_SEED, b"") == RFC8032_SIGNATURE

# --- The schemes' rules ---------------------------------------------------------------------------------------


def b64(data):
    return base64.b64encode(data).decode()


def hmac_sha256(key, message):
    return hmac.new(key, message, hashlib.sha256).digest()


def standard_webhooks_v1(secret, msg_id, timestamp, payload):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + b64(hmac_sha256(key, f"{msg_id}.{timestamp}.{payload}".encode()))


def standard_webhooks_v1a(seed, msg_id, timestamp, payload):
    return "v1a," + b64(ed25519_sign(seed, f"{msg_id}.{timestamp}.{payload}".encode()))


def stripe_v1(secret, timestamp, payload):
    # Stripe keys the HMAC with the UTF-8 bytes of the whole `whsec_...` string.
    return hmac_sha256(secret.encode(), f"{timestamp}.{payload}".encode()).hex()


def github(secret, payload):
    return "sha256=" + hmac_sha256(secret.encode(), payload.encode()).hex()


def slack(secret, timestamp, payload):
    return "v0=" + hmac_sha256(secret.encode(), f"v0:{timestamp}:{payload}".encode()).hex()


def shopify(secret, payload):
    return b64(hmac_sha256(secret.encode(), payload.encode()))


def vector(name, source, scheme, secrets, payload, headers, expect, now=None, **extra):
    v = {"name": name, "source": source, "scheme": scheme, "secrets": secrets}
    if now is not None:
        v["now"] = now
    v["payload"] = payload
    v["headers"] = [list(h) for h in headers]
    v["expect"] = expect
    v.update(extra)
    return v


FILES = {}


def add(file, about, *vectors):
    FILES.setdefault(file, {"about": about, "vectors": []})["vectors"].extend(vectors)


# --- Standard Webhooks ---------------------------------------------------------------------------------------

SW_RUST = "standard-webhooks/standard-webhooks libraries/rust/src/lib.rs test_sign (also svix's Rust library tests)"
SW_PY = "standard-webhooks/standard-webhooks libraries/python/tests/test_webhooks.py"
SW1 = dict(
    secret="whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    id="msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
    ts=1649367553,
    payload='{"email":"test@example.com","username":"test_user"}',
    sig="v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
)
SW2 = dict(
    secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    id="msg_p5jXN8AQM9LWM0D4loKWxJek",
    ts=1614265330,
    payload='{"test": 2432232314}',
    sig="v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
)
for sw in (SW1, SW2):
    assert standard_webhooks_v1(sw["secret"], sw["id"], sw["ts"], sw["payload"]) == sw["sig"]
OTHER_SW_SECRET = "whsec_" + b64(b"another key, 24 bytes.!!")[:32]


def sw_headers(sw, signature=None, prefix="webhook", ts=None):
    return [
        (f"{prefix}-id", sw["id"]),
        (f"{prefix}-timestamp", str(sw["ts"] if ts is None else ts)),
        (f"{prefix}-signature", sw["sig"] if signature is None else signature),
    ]


def sw_ok(sw, key_index=0):
    return {"id": sw["id"], "timestamp": sw["ts"], "key_index": key_index}


add(
    "standard_webhooks_valid.json",
    "Standard Webhooks v1 (HMAC-SHA256) requests that verify.",
    vector("rust_library_test_sign", SW_RUST, "standard-webhooks", [SW1["secret"]], SW1["payload"], sw_headers(SW1),
           "valid", now=SW1["ts"], verified=sw_ok(SW1), sign={"id": SW1["id"], "timestamp": SW1["ts"]}),
    vector("python_test_sign_function", SW_PY + " test_sign_function", "standard-webhooks", [SW2["secret"]],
           SW2["payload"], sw_headers(SW2), "valid", now=SW2["ts"], verified=sw_ok(SW2),
           sign={"id": SW2["id"], "timestamp": SW2["ts"]}),
    vector("secret_without_prefix", SW_PY + " test_signature_verification_with_and_without_prefix", "standard-webhooks",
           [SW2["secret"].removeprefix("whsec_")], SW2["payload"], sw_headers(SW2), "valid", now=SW2["ts"],
           verified=sw_ok(SW2)),
    vector("several_signatures_one_valid", SW_PY + " test_multi_sig_payload_is_valid", "standard-webhooks",
           [SW2["secret"]], SW2["payload"],
           sw_headers(SW2, " ".join([
               "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
               "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
               SW2["sig"],
               "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
           ])), "valid", now=SW2["ts"], verified=sw_ok(SW2)),
    vector("svix_header_names", "svix/svix-webhooks library tests send the same signature under svix-id, "
           "svix-timestamp and svix-signature (values from " + SW_RUST + ")", "standard-webhooks", [SW1["secret"]],
           SW1["payload"], sw_headers(SW1, prefix="svix"), "valid", now=SW1["ts"], verified=sw_ok(SW1)),
    vector("rotation_second_key_matches", "derived: " + SW_PY + " test_sign_function, verified with a wrong key first",
           "standard-webhooks", [OTHER_SW_SECRET, SW2["secret"]], SW2["payload"], sw_headers(SW2), "valid",
           now=SW2["ts"], verified=sw_ok(SW2, key_index=1)),
    vector("unpadded_signature", "derived: " + SW_PY + " test_sign_function with the base64 padding removed",
           "standard-webhooks", [SW2["secret"]], SW2["payload"], sw_headers(SW2, SW2["sig"].rstrip("=")), "valid",
           now=SW2["ts"], verified=sw_ok(SW2)),
    vector("tolerance_boundary_past", "derived: " + SW_PY + " test_old_timestamp_fails, exactly at the 5 minutes",
           "standard-webhooks", [SW2["secret"]], SW2["payload"], sw_headers(SW2), "valid", now=SW2["ts"] + 300,
           verified=sw_ok(SW2)),
    vector("tolerance_boundary_future", "derived: " + SW_PY + " test_new_timestamp_fails, exactly at the 5 minutes",
           "standard-webhooks", [SW2["secret"]], SW2["payload"], sw_headers(SW2), "valid", now=SW2["ts"] - 300,
           verified=sw_ok(SW2)),
)

add(
    "standard_webhooks_rejects_signature_mismatch.json",
    "Standard Webhooks requests whose signatures parse but do not match.",
    vector("tampered_signature", SW_PY + " test_invalid_signature_raises_error", "standard-webhooks", [SW2["secret"]],
           SW2["payload"], sw_headers(SW2, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="), "signature-mismatch",
           now=SW2["ts"]),
    vector("tampered_payload", "derived: " + SW_PY + " test_sign_function with one byte of the payload changed",
           "standard-webhooks", [SW2["secret"]], SW2["payload"].replace("4}", "5}"), sw_headers(SW2),
           "signature-mismatch", now=SW2["ts"]),
    vector("tampered_id", "derived: " + SW_PY + " test_sign_function with another message id", "standard-webhooks",
           [SW2["secret"]], SW2["payload"],
           [("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJeK")] + sw_headers(SW2)[1:], "signature-mismatch",
           now=SW2["ts"]),
    vector("tampered_timestamp", "derived: " + SW_PY + " test_sign_function one second later", "standard-webhooks",
           [SW2["secret"]], SW2["payload"], sw_headers(SW2, ts=SW2["ts"] + 1), "signature-mismatch", now=SW2["ts"]),
    vector("wrong_secret", "derived: " + SW_PY + " test_sign_function verified with another key", "standard-webhooks",
           [SW1["secret"]], SW2["payload"], sw_headers(SW2), "signature-mismatch", now=SW2["ts"]),
)

add(
    "standard_webhooks_rejects_timestamp_too_old.json",
    "Standard Webhooks requests signed more than the tolerance (300 s) ago.",
    vector("one_second_past_tolerance", SW_PY + " test_old_timestamp_fails (tolerance + 1 s)", "standard-webhooks",
           [SW2["secret"]], SW2["payload"], sw_headers(SW2), "timestamp-too-old", now=SW2["ts"] + 301),
)

add(
    "standard_webhooks_rejects_timestamp_too_new.json",
    "Standard Webhooks requests whose timestamp lies more than the tolerance (300 s) ahead.",
    vector("one_second_past_tolerance", SW_PY + " test_new_timestamp_fails (tolerance + 1 s)", "standard-webhooks",
           [SW2["secret"]], SW2["payload"], sw_headers(SW2), "timestamp-too-new", now=SW2["ts"] - 301),
)

add(
    "standard_webhooks_rejects_missing_header.json",
    "Standard Webhooks requests without one of the three headers.",
    *[
        vector(f"missing_{part}", f"{SW_PY} test_missing_{'id' if part == 'id' else part}_raises_error"
               .replace("test_missing_timestamp", "test_timestamp"), "standard-webhooks", [SW2["secret"]],
               SW2["payload"], [h for h in sw_headers(SW2) if h[0] != f"webhook-{part}"], "missing-header",
               now=SW2["ts"], header=f"webhook-{part}")
        for part in ("id", "timestamp", "signature")
    ],
)

add(
    "standard_webhooks_rejects_malformed_header.json",
    "Standard Webhooks requests with a header present but unusable.",
    vector("timestamp_not_a_number", SW_PY + " test_invalid_timestamp_raises_error", "standard-webhooks",
           [SW2["secret"]], SW2["payload"], sw_headers(SW2)[:1] + [("webhook-timestamp", "hello")]
           + sw_headers(SW2)[2:], "malformed-header", now=SW2["ts"], header="webhook-timestamp"),
    vector("only_unknown_versions", "derived: the v2 entry of " + SW_PY + " test_multi_sig_payload_is_valid alone",
           "standard-webhooks", [SW2["secret"]], SW2["payload"],
           sw_headers(SW2, "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="), "malformed-header", now=SW2["ts"],
           header="webhook-signature"),
    vector("signature_header_twice", "derived: " + SW_PY + " test_sign_function with the signature header sent twice",
           "standard-webhooks", [SW2["secret"]], SW2["payload"], sw_headers(SW2) + [("webhook-signature", SW2["sig"])],
           "malformed-header", now=SW2["ts"], header="webhook-signature"),
)

# Ed25519 (v1a): the key pair of RFC 8032 TEST 1, the message of the Python test suite, signed here.
WHSK = "whsk_" + b64(RFC8032_SEED)
WHSK_64 = "whsk_" + b64(RFC8032_SEED + RFC8032_PUBLIC)
WHPK = "whpk_" + b64(RFC8032_PUBLIC)
V1A = standard_webhooks_v1a(RFC8032_SEED, SW2["id"], SW2["ts"], SW2["payload"])
ED_SOURCE = ("derived: Standard Webhooks spec (v1a = Ed25519 over {id}.{timestamp}.{payload}) with the RFC 8032 "
             "section 7.1 TEST 1 key pair and the message of " + SW_PY + " test_sign_function; signed by generate.py")
add(
    "standard_webhooks_ed25519_valid.json",
    "Standard Webhooks v1a (Ed25519) requests that verify (feature `ed25519`).",
    vector("public_key", ED_SOURCE, "standard-webhooks", [WHPK], SW2["payload"], sw_headers(SW2, V1A), "valid",
           now=SW2["ts"], verified=sw_ok(SW2)),
    vector("secret_key_seed", ED_SOURCE, "standard-webhooks", [WHSK], SW2["payload"], sw_headers(SW2, V1A), "valid",
           now=SW2["ts"], verified=sw_ok(SW2), sign={"id": SW2["id"], "timestamp": SW2["ts"]}),
    vector("secret_key_seed_and_public_key", ED_SOURCE, "standard-webhooks", [WHSK_64], SW2["payload"],
           sw_headers(SW2, V1A), "valid", now=SW2["ts"], verified=sw_ok(SW2),
           sign={"id": SW2["id"], "timestamp": SW2["ts"]}),
    vector("hmac_and_ed25519_side_by_side", ED_SOURCE, "standard-webhooks", [SW2["secret"], WHPK], SW2["payload"],
           sw_headers(SW2, f"{V1A} {SW2['sig']}"), "valid", now=SW2["ts"], verified=sw_ok(SW2)),
    vector("ed25519_key_after_hmac_key", ED_SOURCE, "standard-webhooks", [SW1["secret"], WHPK], SW2["payload"],
           sw_headers(SW2, f"{SW2['sig'][:-2]}A= {V1A}"), "valid", now=SW2["ts"], verified=sw_ok(SW2, key_index=1)),
)
add(
    "standard_webhooks_ed25519_rejects_signature_mismatch.json",
    "Standard Webhooks v1a (Ed25519) requests that do not verify (feature `ed25519`).",
    vector("tampered_payload", ED_SOURCE, "standard-webhooks", [WHPK], SW2["payload"] + " ", sw_headers(SW2, V1A),
           "signature-mismatch", now=SW2["ts"]),
    vector("hmac_signature_for_an_ed25519_key", ED_SOURCE, "standard-webhooks", [WHPK], SW2["payload"],
           sw_headers(SW2), "signature-mismatch", now=SW2["ts"]),
    vector("ed25519_signature_for_an_hmac_key", ED_SOURCE, "standard-webhooks", [SW2["secret"]], SW2["payload"],
           sw_headers(SW2, V1A), "signature-mismatch", now=SW2["ts"]),
)

# --- Stripe ------------------------------------------------------------------------------------------------------

STRIPE_PY = "stripe/stripe-python tests/test_webhook.py"
STRIPE_SECRET = "whsec_test_secret"
STRIPE_PAYLOAD = (
    '{\n  "id": "evt_test_webhook",\n  "object": "event",\n'
    '  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }\n}'
)
STRIPE_TS = 1234567890
STRIPE_SIG = stripe_v1(STRIPE_SECRET, STRIPE_TS, STRIPE_PAYLOAD)
STRIPE_SOURCE = (f"derived: {STRIPE_PY} test_generate_signature_header (DUMMY_WEBHOOK_SECRET, DUMMY_WEBHOOK_PAYLOAD, "
                 "timestamp 1234567890), signed by generate.py by Stripe's documented rule "
                 "(docs.stripe.com/webhooks#verify-manually)")
STRIPE_OK = {"id": None, "timestamp": STRIPE_TS, "key_index": 0}


def stripe_headers(value):
    return [("stripe-signature", value)]


add(
    "stripe_valid.json",
    "Stripe-Signature requests that verify.",
    vector("generate_signature_header", STRIPE_SOURCE, "stripe", [STRIPE_SECRET], STRIPE_PAYLOAD,
           stripe_headers(f"t={STRIPE_TS},v1={STRIPE_SIG}"), "valid", now=STRIPE_TS, verified=STRIPE_OK,
           sign={"id": "", "timestamp": STRIPE_TS}),
    vector("header_contains_valid_signature", STRIPE_SOURCE + "; " + STRIPE_PY + " test_header_contains_valid_signature",
           "stripe", [STRIPE_SECRET], STRIPE_PAYLOAD, stripe_headers(f"t={STRIPE_TS},v1={STRIPE_SIG},v1=bad_signature"),
           "valid", now=STRIPE_TS, verified=STRIPE_OK),
    vector("v0_entry_ignored", STRIPE_SOURCE + "; the v0 entry of the header shown in Stripe's docs", "stripe",
           [STRIPE_SECRET], STRIPE_PAYLOAD, stripe_headers(
               f"t={STRIPE_TS},v1={STRIPE_SIG},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"),
           "valid", now=STRIPE_TS, verified=STRIPE_OK),
    vector("within_tolerance", STRIPE_SOURCE + "; " + STRIPE_PY + " test_valid_header_and_signature (tolerance 10)",
           "stripe", [STRIPE_SECRET], STRIPE_PAYLOAD, stripe_headers(f"t={STRIPE_TS},v1={STRIPE_SIG}"), "valid",
           now=STRIPE_TS + 10, tolerance=10, verified=STRIPE_OK),
)
add(
    "stripe_rejects_signature_mismatch.json",
    "Stripe-Signature requests whose v1 signatures parse but do not match.",
    vector("tampered_payload", STRIPE_SOURCE, "stripe", [STRIPE_SECRET], STRIPE_PAYLOAD.replace("rdr_123", "rdr_124"),
           stripe_headers(f"t={STRIPE_TS},v1={STRIPE_SIG}"), "signature-mismatch", now=STRIPE_TS),
    vector("tampered_timestamp", STRIPE_SOURCE, "stripe", [STRIPE_SECRET], STRIPE_PAYLOAD,
           stripe_headers(f"t={STRIPE_TS + 1},v1={STRIPE_SIG}"), "signature-mismatch", now=STRIPE_TS),
    vector("key_is_not_base64_decoded", STRIPE_SOURCE + "; a Standard Webhooks verifier would decode the key",
           "stripe", ["whsec_dGVzdF9zZWNyZXRfdGVzdF9zZWNyZXQ="], STRIPE_PAYLOAD, stripe_headers(
               f"t={STRIPE_TS},v1="
               + hmac_sha256(b"test_secret_test_secret", f"{STRIPE_TS}.{STRIPE_PAYLOAD}".encode()).hex()),
           "signature-mismatch", now=STRIPE_TS),
)
add(
    "stripe_rejects_malformed_header.json",
    "Stripe-Signature headers from which no timestamp or no v1 signature can be read.",
    vector("not_a_signature_header", STRIPE_PY + " test_raise_on_malformed_header", "stripe", [STRIPE_SECRET],
           STRIPE_PAYLOAD, stripe_headers("i'm not even a real signature header"), "malformed-header", now=STRIPE_TS,
           header="stripe-signature"),
    vector("bad_header", STRIPE_PY + " test_raise_on_invalid_header", "stripe", [STRIPE_SECRET], STRIPE_PAYLOAD,
           stripe_headers("bad_header"), "malformed-header", now=STRIPE_TS, header="stripe-signature"),
    vector("no_signature_with_expected_scheme", STRIPE_SOURCE + "; " + STRIPE_PY
           + " test_raise_on_no_signatures_with_expected_scheme", "stripe", [STRIPE_SECRET], STRIPE_PAYLOAD,
           stripe_headers(f"t={STRIPE_TS},v0={STRIPE_SIG}"), "malformed-header", now=STRIPE_TS,
           header="stripe-signature"),
    vector("undecodable_signature", STRIPE_PY + " test_raise_on_no_valid_signatures_for_payload", "stripe",
           [STRIPE_SECRET], STRIPE_PAYLOAD, stripe_headers(f"t={STRIPE_TS},v1=bad_signature"), "malformed-header",
           now=STRIPE_TS, header="stripe-signature"),
)
add(
    "stripe_rejects_timestamp_too_old.json",
    "Stripe-Signature requests older than the tolerance.",
    vector("outside_tolerance", STRIPE_SOURCE + "; " + STRIPE_PY + " test_raise_on_timestamp_outside_tolerance "
           "(15 s old, tolerance 10)", "stripe", [STRIPE_SECRET], STRIPE_PAYLOAD,
           stripe_headers(f"t={STRIPE_TS},v1={STRIPE_SIG}"), "timestamp-too-old", now=STRIPE_TS + 15, tolerance=10),
)

# --- GitHub ------------------------------------------------------------------------------------------------------

GH_DOCS = "GitHub docs, 'Validating webhook deliveries', testing the webhook payload validation (worked example)"
GH_SECRET = "It's a Secret to Everybody"
GH_PAYLOAD = "Hello, World!"
GH_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
assert github(GH_SECRET, GH_PAYLOAD) == GH_SIG
GH_DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"  # the X-GitHub-Delivery of GitHub's documented example delivery
add(
    "github_valid.json",
    "X-Hub-Signature-256 requests that verify.",
    vector("docs_example", GH_DOCS, "github", [GH_SECRET], GH_PAYLOAD, [("x-hub-signature-256", GH_SIG)], "valid",
           verified={"id": None, "timestamp": None, "key_index": 0}),
    vector("docs_example_with_delivery_id", GH_DOCS + "; X-GitHub-Delivery from the docs' example delivery headers",
           "github", [GH_SECRET], GH_PAYLOAD,
           [("x-github-delivery", GH_DELIVERY), ("x-hub-signature-256", GH_SIG)], "valid",
           verified={"id": GH_DELIVERY, "timestamp": None, "key_index": 0}, sign={"id": GH_DELIVERY, "timestamp": 0}),
)
add(
    "github_rejects_signature_mismatch.json",
    "X-Hub-Signature-256 requests that do not match.",
    vector("tampered_payload", GH_DOCS, "github", [GH_SECRET], "Hello, World?", [("x-hub-signature-256", GH_SIG)],
           "signature-mismatch"),
    vector("wrong_secret", GH_DOCS, "github", ["It's a Secret to Everybody!"], GH_PAYLOAD,
           [("x-hub-signature-256", GH_SIG)], "signature-mismatch"),
)
add(
    "github_rejects_malformed_header.json",
    "X-Hub-Signature-256 headers that cannot be read.",
    vector("sha1_prefix", GH_DOCS + " with the legacy X-Hub-Signature prefix", "github", [GH_SECRET], GH_PAYLOAD,
           [("x-hub-signature-256", GH_SIG.replace("sha256=", "sha1="))], "malformed-header",
           header="x-hub-signature-256"),
    vector("truncated_hex", GH_DOCS, "github", [GH_SECRET], GH_PAYLOAD, [("x-hub-signature-256", GH_SIG[:-2])],
           "malformed-header", header="x-hub-signature-256"),
)
add(
    "github_rejects_missing_header.json",
    "GitHub requests without X-Hub-Signature-256.",
    vector("legacy_sha1_header_only", GH_DOCS, "github", [GH_SECRET], GH_PAYLOAD,
           [("x-hub-signature", "sha1=" + hmac.new(GH_SECRET.encode(), GH_PAYLOAD.encode(), "sha1").hexdigest())],
           "missing-header", header="x-hub-signature-256"),
)

# --- Slack -------------------------------------------------------------------------------------------------------

SLACK_DOCS = ("Slack docs, 'Verifying requests from Slack' (docs.slack.dev/authentication/verifying-requests-from-slack)"
              ", the documented example request; also slackapi/python-slack-sdk tests/slack_sdk/signature")
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = 1531420618
SLACK_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
assert slack(SLACK_SECRET, SLACK_TS, SLACK_BODY) == SLACK_SIG


def slack_headers(ts=SLACK_TS, sig=SLACK_SIG):
    return [("x-slack-request-timestamp", str(ts)), ("x-slack-signature", sig)]


add(
    "slack_valid.json",
    "Slack requests that verify.",
    vector("docs_example", SLACK_DOCS, "slack", [SLACK_SECRET], SLACK_BODY, slack_headers(), "valid", now=SLACK_TS,
           verified={"id": None, "timestamp": SLACK_TS, "key_index": 0}, sign={"id": "", "timestamp": SLACK_TS}),
)
add(
    "slack_rejects_signature_mismatch.json",
    "Slack requests that do not match.",
    vector("tampered_body", SLACK_DOCS, "slack", [SLACK_SECRET], SLACK_BODY.replace("foobar", "foobaz"),
           slack_headers(), "signature-mismatch", now=SLACK_TS),
    vector("tampered_timestamp", SLACK_DOCS, "slack", [SLACK_SECRET], SLACK_BODY, slack_headers(ts=SLACK_TS + 1),
           "signature-mismatch", now=SLACK_TS),
)
add(
    "slack_rejects_timestamp_too_old.json",
    "Slack requests older than five minutes (Slack's docs: reject them as possible replays).",
    vector("docs_example_replayed_later", SLACK_DOCS, "slack", [SLACK_SECRET], SLACK_BODY, slack_headers(),
           "timestamp-too-old", now=SLACK_TS + 301),
)
add(
    "slack_rejects_missing_header.json",
    "Slack requests without a timestamp.",
    vector("no_timestamp", SLACK_DOCS, "slack", [SLACK_SECRET], SLACK_BODY, slack_headers()[1:], "missing-header",
           now=SLACK_TS, header="x-slack-request-timestamp"),
)

# --- Shopify -----------------------------------------------------------------------------------------------------

SHOPIFY_SOURCE = ("derived: Shopify docs, 'Validate the origin of your webhook' (base64 HMAC-SHA256 of the raw body "
                  "with the app's client secret); body and ids made up here, signed by generate.py")
SHOPIFY_SECRET = "hush-shopify-client-secret"
SHOPIFY_BODY = '{"id":820982911946154508,"email":"jon@example.com","total_price":"199.00"}'
SHOPIFY_SIG = shopify(SHOPIFY_SECRET, SHOPIFY_BODY)
SHOPIFY_EVENT = "98880550-7158-44d4-b7cd-2c97c8a091b5"
SHOPIFY_WEBHOOK = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
add(
    "shopify_valid.json",
    "X-Shopify-Hmac-Sha256 requests that verify.",
    vector("event_id", SHOPIFY_SOURCE, "shopify", [SHOPIFY_SECRET], SHOPIFY_BODY,
           [("x-shopify-event-id", SHOPIFY_EVENT), ("x-shopify-webhook-id", SHOPIFY_WEBHOOK),
            ("x-shopify-hmac-sha256", SHOPIFY_SIG)], "valid",
           verified={"id": SHOPIFY_EVENT, "timestamp": None, "key_index": 0}),
    vector("webhook_id_fallback", SHOPIFY_SOURCE, "shopify", [SHOPIFY_SECRET], SHOPIFY_BODY,
           [("x-shopify-webhook-id", SHOPIFY_WEBHOOK), ("x-shopify-hmac-sha256", SHOPIFY_SIG)], "valid",
           verified={"id": SHOPIFY_WEBHOOK, "timestamp": None, "key_index": 0}),
)
add(
    "shopify_rejects_signature_mismatch.json",
    "X-Shopify-Hmac-Sha256 requests that do not match.",
    vector("tampered_body", SHOPIFY_SOURCE, "shopify", [SHOPIFY_SECRET], SHOPIFY_BODY.replace("199", "198"),
           [("x-shopify-hmac-sha256", SHOPIFY_SIG)], "signature-mismatch"),
    vector("signed_with_another_secret", SHOPIFY_SOURCE, "shopify", [SHOPIFY_SECRET], SHOPIFY_BODY,
           [("x-shopify-hmac-sha256", shopify("another-client-secret", SHOPIFY_BODY))], "signature-mismatch"),
)


def main():
    for old in os.listdir(HERE):
        if old.endswith(".json"):
            os.remove(os.path.join(HERE, old))
    for name, content in sorted(FILES.items()):
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2, ensure_ascii=False)
            f.write("\n")
    print(f"wrote {len(FILES)} files, {sum(len(c['vectors']) for c in FILES.values())} vectors")


if __name__ == "__main__":
    main()
