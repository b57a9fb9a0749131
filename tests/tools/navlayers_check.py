"""Loads Navigator layer files with mitreattack-python's layer library and
prints what it read, as JSON, for the Rust test to compare with what
atlascope wrote.

Usage: navlayers_check.py FILE...

The library is written for ATT&CK: it checks a layer's domain against the
three ATT&CK domains its documentation lists, and that each technique ID
starts with `T`. An ATLAS layer is therefore handed to it as
`enterprise-attack`, with each `AML.T…` ID given without its `AML.` prefix
(and the prefix put back in the output); everything else is read as
written. A layer the library refuses makes the script exit 1 with the
library's message.
"""

import contextlib
import io
import json
import sys

from mitreattack.navlayers.core.layer import Layer

PREFIX = "AML."


def read(path):
    with open(path, "rb") as handle:
        raw = handle.read()
    data = json.loads(raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig"))
    data["domain"] = "enterprise-attack"
    for technique in data.get("techniques", []):
        technique["techniqueID"] = technique["techniqueID"].removeprefix(PREFIX)
    layer = Layer(strict=True)
    messages = io.StringIO()
    with contextlib.redirect_stdout(messages):
        layer.from_dict(data)
    loaded = layer.to_dict()
    if loaded is None:
        raise SystemExit(f"{path}: mitreattack-python refused the layer: {messages.getvalue().strip()}")
    return {
        "name": loaded.get("name"),
        "layer_version": loaded.get("versions", {}).get("layer"),
        "gradient": loaded.get("gradient"),
        "techniques": [
            {
                "techniqueID": PREFIX + t.get("techniqueID"),
                "tactic": t.get("tactic"),
                "score": t.get("score"),
                "color": t.get("color"),
                "comment": t.get("comment"),
                "enabled": t.get("enabled", True),
                "showSubtechniques": t.get("showSubtechniques", False),
            }
            for t in loaded.get("techniques", [])
        ],
    }


def main():
    json.dump({path: read(path) for path in sys.argv[1:]}, sys.stdout)


if __name__ == "__main__":
    main()
