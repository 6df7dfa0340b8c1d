"""Who is calling: API keys, JWTs from the main application, and the principal cache."""
