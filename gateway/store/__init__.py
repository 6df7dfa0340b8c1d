"""Writes off the request path: records, the batching queue, its disk spool, and the SQL that lands them."""
