"""The request path: admission, forwarding/relay, settlement."""
