"""Runs the ELN Consortium's checks (consortium/checks.py, their test suite's, unchanged) on
each .eln named on the command line; prints every check's verdict and log, exits 1 if any fails.

Offline: the one document the validator fetches, the RO-Crate 1.1 JSON-LD context, is served
from the copy the `rocrate` package ships; any other fetch fails loudly."""
import email.message
import io
import sys
import urllib.response
from pathlib import Path

import rdflib.parser
import rocrate

sys.path.insert(0, str(Path(__file__).parent / "consortium"))
from checks import runChecks  # noqa: E402

CONTEXT = Path(rocrate.__file__).parent / "data" / "ro-crate.jsonld"
FETCHED = []


def offline_urlopen(req):
    url = req.full_url if hasattr(req, "full_url") else str(req)
    FETCHED.append(url)
    if url.rstrip("/") in ("https://w3id.org/ro/crate/1.1/context", "http://w3id.org/ro/crate/1.1/context"):
        headers = email.message.Message()
        headers["Content-Type"] = "application/ld+json"
        return urllib.response.addinfourl(io.BytesIO(CONTEXT.read_bytes()), headers, url, 200)
    raise OSError(f"offline: refusing to fetch {url}")


rdflib.parser._urlopen = offline_urlopen

failed = 0
for name in sys.argv[1:]:
    for label, success, log in runChecks(name):
        print(f"{'PASS' if success else 'FAIL'} {label}: {name}")
        if not success:
            failed += 1
            print(log)
print(f"consortium checks: {len(sys.argv[1:]) * 5 - failed} of {len(sys.argv[1:]) * 5} succeeded")
sys.exit(1 if failed else 0)
