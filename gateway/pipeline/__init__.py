"""The request pipeline: one owner for a proxied request, from bytes to settlement.

Read ``handle`` first: it is the whole sequence in one function. Every step it calls is a
small typed seam that does not know the others:

- ``door``: what the HTTP server provides (bytes in, frames out, "the client left").
- ``codecs``: one module per client dialect (parse, errors, error frames, observe a stream).
- ``route``: the (client dialect, provider dialect) pair of a call; identity = pass-through.
- ``resolve``: authentication, and the model (explicit or AUTO) under the tier policy.
- ``admission``: ordered steps (budget today; rate limits next) each giving a ``Hold``.
- ``strategy``: how a request becomes model calls (``single`` today; cascade, parallel).
- ``attempt``: one call of one model on one provider (retries and fallbacks wrap it).
- ``relay``: the answer to the client, observed or translated on the way.
- ``settlement``: every call recorded once, every hold released, on every path.
- ``context``: the client request (``RequestContext``) and each model call (``ModelCall``).
- ``conversations``: ``X-Conversation-Id`` (check before admission, create after).
"""
