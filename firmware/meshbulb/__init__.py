# meshbulb protocol core: a sans-IO mesh node shared by the bulb, the gateway and the
# simulator. See docs/protocol.md for the wire format and node.py for the API.
