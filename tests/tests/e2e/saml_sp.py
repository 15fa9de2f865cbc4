#!/usr/bin/python3
"""A SAML service provider over pysaml2, for orgid's end-to-end tests (saml.rs).

    saml_sp.py metadata DIR ENTITY ACS            prints the SP's metadata
    saml_sp.py login DIR ENTITY ACS IDP_MD        prints {"id", "url"}: a signed AuthnRequest (Redirect)
    saml_sp.py acs DIR ENTITY ACS IDP_MD ID|-     reads a SAMLResponse (base64) on stdin; prints
                                                  {"name_id", "attributes"} or {"error"} (exit 1).
                                                  ID: the outstanding request it answers; "-": none
    saml_sp.py slo DIR ENTITY ACS IDP_MD          reads an IdP's LogoutRequest URL (Redirect) on stdin;
                                                  checks its query signature with the IdP's certificate;
                                                  prints {"name_id", "session_index", "destination"}
                                                  or {"error"} (exit 1)

DIR holds sp.key and sp.crt. The SP's SingleLogoutService (HTTP-Redirect) is ACS's sibling `slo`. pysaml2 checks the signatures with xmlsec1, the audience, the
recipient, the times and that the response answers a request still outstanding.
"""
import json
import sys
from urllib import parse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import SIG_RSA_SHA256


def config(d, entity, acs, idp_md=None):
    c = {
        "entityid": entity,
        "key_file": f"{d}/sp.key",
        "cert_file": f"{d}/sp.crt",
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "allow_unknown_attributes": True,
        "accepted_time_diff": 30,
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(acs, BINDING_HTTP_POST)],
                    "single_logout_service": [(acs.rsplit("/", 1)[0] + "/slo", BINDING_HTTP_REDIRECT)],
                },
                "authn_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": True,
                "allow_unsolicited": False,
                "name_id_format": NAMEID_FORMAT_PERSISTENT,
            }
        },
    }
    if idp_md:
        c["metadata"] = {"local": [idp_md]}
    cfg = SPConfig()
    cfg.load(c)
    return cfg


def main():
    cmd, d, entity, acs = sys.argv[1:5]
    if cmd == "metadata":
        print(str(entity_descriptor(config(d, entity, acs))))
        return 0
    client = Saml2Client(config(d, entity, acs, sys.argv[5]))
    if cmd == "login":
        req_id, info = client.prepare_for_authenticate(
            binding=BINDING_HTTP_REDIRECT, relay_state="rs-1", sign=True, sigalg=SIG_RSA_SHA256
        )
        url = dict(info["headers"])["Location"]
        print(json.dumps({"id": req_id, "url": url}))
        return 0
    if cmd == "acs":
        outstanding = {} if sys.argv[6] == "-" else {sys.argv[6]: "/"}
        try:
            resp = client.parse_authn_request_response(sys.stdin.read(), BINDING_HTTP_POST, outstanding=outstanding)
            if resp is None:
                raise ValueError("no response")
            print(json.dumps({"name_id": resp.name_id.text, "attributes": resp.get_identity()}, ensure_ascii=False))
            return 0
        except Exception as e:  # the test reads what was refused and why
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}, ensure_ascii=False))
            return 1
    if cmd == "slo":
        try:
            query = parse.urlparse(sys.stdin.read().strip()).query
            msg = {k: v[0] for k, v in parse.parse_qs(query).items()}
            idp = client.metadata.identity_providers()[0]
            certs = [c if isinstance(c, str) else c[1] for c in client.metadata.certs(idp, "idpsso", "signing")]
            if not any(verify_redirect_signature(msg, client.sec.sec_backend, cert=c) for c in certs):
                raise ValueError("the LogoutRequest's signature does not verify")
            req = client.parse_logout_request(msg["SAMLRequest"], BINDING_HTTP_REDIRECT).message
            out = {
                "name_id": req.name_id.text,
                "session_index": [i.text for i in req.session_index],
                "destination": req.destination,
                "issuer": req.issuer.text,
            }
            print(json.dumps(out))
            return 0
        except Exception as e:  # the test reads what was refused and why
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
            return 1
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())
