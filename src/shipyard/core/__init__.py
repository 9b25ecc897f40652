"""Small pieces every layer uses: files written atomically, redaction, CI detection,
listen addresses. No Shipyard imports beyond `shipyard.errors`."""
