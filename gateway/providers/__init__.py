"""Upstream providers: one module per provider, behind one small HTTP seam (``upstream``)."""
