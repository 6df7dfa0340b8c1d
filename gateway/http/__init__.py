"""The HTTP edge: the app factory, routes, and the one place errors become responses."""
